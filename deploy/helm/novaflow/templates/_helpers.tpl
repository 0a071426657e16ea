{{/* The name of the release's objects: the release name, with -novaflow unless it has it. */}}
{{- define "novaflow.fullname" -}}
{{- if contains "novaflow" .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-novaflow" .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels that select a component's pods: (dict "root" $ "component" "conductor"). */}}
{{- define "novaflow.selectorLabels" -}}
app.kubernetes.io/name: novaflow
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "novaflow.labels" -}}
{{ include "novaflow.selectorLabels" . }}
app.kubernetes.io/part-of: novaflow
app.kubernetes.io/version: {{ include "novaflow.tag" .root | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "novaflow.tag" -}}
{{- .Values.image.tag | default .Chart.AppVersion -}}
{{- end -}}

{{- define "novaflow.image" -}}
{{- printf "%s:%s" .Values.image.repository (include "novaflow.tag" .) -}}
{{- end -}}

{{/* The Secret the chart writes from database.url / temporal.apiKey.value. */}}
{{- define "novaflow.secretName" -}}
{{- printf "%s-secrets" (include "novaflow.fullname" .) -}}
{{- end -}}

{{- define "novaflow.databaseSecret" -}}
{{- if .Values.database.existingSecret -}}
{{- .Values.database.existingSecret -}}
{{- else if .Values.database.url -}}
{{- include "novaflow.secretName" . -}}
{{- else -}}
{{- fail "database: set existingSecret (a Secret holding the PostgreSQL URL under database.key) or url" -}}
{{- end -}}
{{- end -}}

{{/* "" when no API key is configured. */}}
{{- define "novaflow.apiKeySecret" -}}
{{- if .Values.temporal.apiKey.existingSecret -}}
{{- .Values.temporal.apiKey.existingSecret -}}
{{- else if .Values.temporal.apiKey.value -}}
{{- include "novaflow.secretName" . -}}
{{- end -}}
{{- end -}}

{{/* Checks of the values that a template alone cannot express. */}}
{{- define "novaflow.validate" -}}
{{- $_ := include "novaflow.databaseSecret" . -}}
{{- if and .Values.compute.enabled (not .Values.compute.driver) -}}
{{- fail "compute.driver: required (fake or process): compute refuses to start without NOVAFLOW_COMPUTE_DRIVER" -}}
{{- end -}}
{{- if and .Values.volume.enabled (eq .Values.volume.driver "file") (or (not .Values.volume.hostPath) (not .Values.compute.hostPath)) -}}
{{- fail "volume.driver file: set volume.hostPath and compute.hostPath (the volumes are files of the node, linked into compute's state directory)" -}}
{{- end -}}
{{- if and .Values.auth.enabled (or (not .Values.auth.issuer) (and (not .Values.auth.jwksURL) (not .Values.auth.jwks.existingSecret))) -}}
{{- fail "auth.enabled: set auth.issuer, and auth.jwksURL or auth.jwks.existingSecret (the issuer's keys)" -}}
{{- end -}}
{{- if and .Values.temporal.tls.existingSecret (not .Values.temporal.tls.enabled) -}}
{{- fail "temporal.tls.existingSecret is set but temporal.tls.enabled is false" -}}
{{- end -}}
{{- if and .Values.temporal.tls.enabled (not .Values.temporal.tls.existingSecret) .Values.temporal.tls.mutual -}}
{{- fail "temporal.tls.mutual: needs temporal.tls.existingSecret (tls.crt, tls.key); set mutual: false for TLS without a client certificate" -}}
{{- end -}}
{{- range $t := list "conductor" "scheduler" -}}
{{- $v := index $.Values $t -}}
{{- if and $v.enabled (le (int $v.replicas) (int $v.podDisruptionBudget.minAvailable)) -}}
{{- fail (printf "%s: replicas %v must be above podDisruptionBudget.minAvailable %v, or a node drain never ends" $t $v.replicas $v.podDisruptionBudget.minAvailable) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The pod security context of the kustomize base. */}}
{{- define "novaflow.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "novaflow.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{/* Temporal's client settings: env entries. */}}
{{- define "novaflow.temporalEnv" -}}
- name: NOVAFLOW_TEMPORAL_ADDRESS
  value: {{ required "temporal.address" .Values.temporal.address | quote }}
- name: NOVAFLOW_TEMPORAL_NAMESPACE
  value: {{ required "temporal.namespace" .Values.temporal.namespace | quote }}
{{- with .Values.temporal.grpcCompression }}
- name: NOVAFLOW_TEMPORAL_GRPC_COMPRESSION
  value: {{ . | quote }}
{{- end }}
{{- if .Values.temporal.tls.enabled }}
- name: NOVAFLOW_TEMPORAL_TLS
  value: "true"
{{- if .Values.temporal.tls.existingSecret }}
{{- if .Values.temporal.tls.ca }}
- name: NOVAFLOW_TEMPORAL_TLS_CA
  value: /etc/novaflow/temporal-tls/ca.crt
{{- end }}
{{- if .Values.temporal.tls.mutual }}
- name: NOVAFLOW_TEMPORAL_TLS_CERT
  value: /etc/novaflow/temporal-tls/tls.crt
- name: NOVAFLOW_TEMPORAL_TLS_KEY
  value: /etc/novaflow/temporal-tls/tls.key
{{- end }}
{{- end }}
{{- with .Values.temporal.tls.serverName }}
- name: NOVAFLOW_TEMPORAL_TLS_SERVER_NAME
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- if include "novaflow.apiKeySecret" . }}
- name: NOVAFLOW_TEMPORAL_API_KEY_FILE
  value: /etc/novaflow/temporal-api-key/api-key
{{- end }}
{{- end -}}

{{- define "novaflow.temporalVolumeMounts" -}}
{{- if and .Values.temporal.tls.enabled .Values.temporal.tls.existingSecret }}
- name: temporal-tls
  mountPath: /etc/novaflow/temporal-tls
  readOnly: true
{{- end }}
{{- if include "novaflow.apiKeySecret" . }}
- name: temporal-api-key
  mountPath: /etc/novaflow/temporal-api-key
  readOnly: true
{{- end }}
{{- end -}}

{{/* Secret volumes are 0440, readable by the pods' fsGroup. */}}
{{- define "novaflow.temporalVolumes" -}}
{{- if and .Values.temporal.tls.enabled .Values.temporal.tls.existingSecret }}
- name: temporal-tls
  secret:
    secretName: {{ .Values.temporal.tls.existingSecret }}
    defaultMode: 0440
    items:
      {{- if .Values.temporal.tls.ca }}
      - key: ca.crt
        path: ca.crt
      {{- end }}
      {{- if .Values.temporal.tls.mutual }}
      - key: tls.crt
        path: tls.crt
      - key: tls.key
        path: tls.key
      {{- end }}
{{- end }}
{{- with include "novaflow.apiKeySecret" . }}
- name: temporal-api-key
  secret:
    secretName: {{ . }}
    defaultMode: 0440
    items:
      - key: {{ $.Values.temporal.apiKey.key }}
        path: api-key
{{- end }}
{{- end -}}

{{- define "novaflow.databaseEnv" -}}
- name: NOVAFLOW_DATABASE_URL_FILE
  value: /etc/novaflow/database/database-url
{{- end -}}

{{- define "novaflow.databaseVolumeMounts" -}}
- name: database
  mountPath: /etc/novaflow/database
  readOnly: true
{{- end -}}

{{- define "novaflow.databaseVolumes" -}}
- name: database
  secret:
    secretName: {{ include "novaflow.databaseSecret" . }}
    defaultMode: 0440
    items:
      - key: {{ .Values.database.key }}
        path: database-url
{{- end -}}

{{/* The payload codec's key ring, in services only. */}}
{{- define "novaflow.payloadKeysEnv" -}}
{{- if .Values.payloadKeys.existingSecret }}
- name: NOVAFLOW_PAYLOAD_KEYS_FILE
  value: /etc/novaflow/payload-keys/keys.json
{{- end }}
{{- end -}}

{{- define "novaflow.payloadKeysVolumeMounts" -}}
{{- if .Values.payloadKeys.existingSecret }}
- name: payload-keys
  mountPath: /etc/novaflow/payload-keys
  readOnly: true
{{- end }}
{{- end -}}

{{- define "novaflow.payloadKeysVolumes" -}}
{{- if .Values.payloadKeys.existingSecret }}
- name: payload-keys
  secret:
    secretName: {{ .Values.payloadKeys.existingSecret }}
    defaultMode: 0440
    items:
      - key: {{ .Values.payloadKeys.key }}
        path: keys.json
{{- end }}
{{- end -}}

{{/* Authorization, in services only. */}}
{{- define "novaflow.authEnv" -}}
{{- with .Values.auth }}
{{- if .enabled }}
- name: NOVAFLOW_AUTH
  value: "true"
- name: NOVAFLOW_AUTH_ISSUER
  value: {{ .issuer | quote }}
{{- with .audience }}
- name: NOVAFLOW_AUTH_AUDIENCE
  value: {{ . | quote }}
{{- end }}
- name: NOVAFLOW_AUTH_JWKS
  value: {{ ternary .jwksURL "/etc/novaflow/auth-jwks/jwks.json" (not .jwks.existingSecret) | quote }}
{{- if .policy.existingConfigMap }}
- name: NOVAFLOW_AUTH_POLICY_FILE
  value: /etc/novaflow/auth-policy/policy.yaml
{{- end }}
{{- if .token.existingSecret }}
- name: NOVAFLOW_TOKEN_FILE
  value: /etc/novaflow/token/token
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "novaflow.authVolumeMounts" -}}
{{- with .Values.auth }}
{{- if .enabled }}
{{- if .jwks.existingSecret }}
- name: auth-jwks
  mountPath: /etc/novaflow/auth-jwks
  readOnly: true
{{- end }}
{{- if .policy.existingConfigMap }}
- name: auth-policy
  mountPath: /etc/novaflow/auth-policy
  readOnly: true
{{- end }}
{{- if .token.existingSecret }}
- name: token
  mountPath: /etc/novaflow/token
  readOnly: true
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "novaflow.authVolumes" -}}
{{- with .Values.auth }}
{{- if .enabled }}
{{- if .jwks.existingSecret }}
- name: auth-jwks
  secret:
    secretName: {{ .jwks.existingSecret }}
    defaultMode: 0440
    items:
      - key: {{ .jwks.key }}
        path: jwks.json
{{- end }}
{{- if .policy.existingConfigMap }}
- name: auth-policy
  configMap:
    name: {{ .policy.existingConfigMap }}
    items:
      - key: {{ .policy.key }}
        path: policy.yaml
{{- end }}
{{- if .token.existingSecret }}
- name: token
  secret:
    secretName: {{ .token.existingSecret }}
    defaultMode: 0440
    items:
      - key: {{ .token.key }}
        path: token
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* NAME: value pairs as env entries. */}}
{{- define "novaflow.envMap" -}}
{{- range $k, $v := . }}
- name: {{ $k }}
  value: {{ $v | toString | quote }}
{{- end }}
{{- end -}}

{{/* The env of every service: (dict "root" $ "topic" "conductor"). */}}
{{- define "novaflow.serviceEnv" -}}
{{- $v := index .root.Values .topic -}}
{{ include "novaflow.temporalEnv" .root }}
{{ include "novaflow.databaseEnv" .root }}
{{- include "novaflow.payloadKeysEnv" .root }}
{{- include "novaflow.authEnv" .root }}
- name: NOVAFLOW_MIGRATE_ON_START
  value: "false"
- name: NOVAFLOW_HEALTH_ADDRESS
  value: {{ printf ":%d" (int .root.Values.healthPort) | quote }}
{{- include "novaflow.envMap" (merge (deepCopy ($v.env | default dict)) (deepCopy (.root.Values.config | default dict))) }}
{{- with .root.Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- with $v.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The part of a service's pod template common to every topic. */}}
{{- define "novaflow.podMeta" -}}
labels:
  {{- include "novaflow.labels" . | nindent 2 }}
annotations:
  {{- if .root.Values.prometheusAnnotations }}
  prometheus.io/scrape: "true"
  prometheus.io/port: {{ .root.Values.healthPort | quote }}
  prometheus.io/path: /metrics
  {{- end }}
  {{- with .root.Values.podAnnotations }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}

{{- define "novaflow.probes" -}}
ports:
  - name: health
    containerPort: {{ .Values.healthPort }}
    protocol: TCP
startupProbe:
  httpGet:
    path: /readyz
    port: health
  periodSeconds: 2
  failureThreshold: 90
readinessProbe:
  httpGet:
    path: /readyz
    port: health
  periodSeconds: 5
  failureThreshold: 2
livenessProbe:
  httpGet:
    path: /healthz
    port: health
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
{{- end -}}
