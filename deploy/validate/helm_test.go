package validate

import (
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	releasev1 "helm.sh/helm/v4/pkg/release/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// chartDir is novaflow's Helm chart.
const chartDir = "deploy/helm/novaflow"

// The values every configuration starts from: the chart's defaults need
// the database's Secret and compute's driver from the installation.
func baseValues() map[string]any {
	return map[string]any{"database": map[string]any{"existingSecret": "novaflow-db"}, "compute": map[string]any{"driver": "fake"}}
}

// merged is a deep copy of a with b's keys set over it (maps merged).
func merged(a, b map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range a {
		if m, ok := v.(map[string]any); ok {
			v = merged(m, nil)
		}
		out[k] = v
	}
	for k, v := range b {
		if bm, ok := v.(map[string]any); ok {
			if am, ok := out[k].(map[string]any); ok {
				out[k] = merged(am, bm)
				continue
			}
			v = merged(bm, nil)
		}
		out[k] = v
	}
	return out
}

// value is the value at a dotted path of the chart's values after the
// configuration's: the chart's default where the configuration is silent.
func value(ch *chart.Chart, vals map[string]any, path string) any {
	all := merged(ch.Values, vals)
	var cur any = all
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}

func truthy(v any) bool {
	switch v := v.(type) {
	case bool:
		return v
	case string:
		return v != ""
	}
	return v != nil
}

// chartConfig is one configuration of the chart: the values an installer
// passes (over baseValues).
type chartConfig struct {
	name    string
	release string
	values  map[string]any
}

// The toggles of the values, each with every setting it has. Wiring
// toggles change what the pods mount and read; presence toggles change
// which objects there are.
var (
	databaseToggles = map[string]map[string]any{
		"db-existing": {},
		"db-url":      {"database": map[string]any{"existingSecret": "", "url": "postgres://novaflow:pw@postgres:5432/novaflow?sslmode=verify-full"}},
	}
	apiKeyToggles = map[string]map[string]any{
		"no-api-key": {},
		// Temporal Cloud's shape: an API key, and a set-up that only checks.
		"api-key-existing": {"temporal": map[string]any{"apiKey": map[string]any{"existingSecret": "temporal-cloud", "key": "api-key"}},
			"hooks": map[string]any{"temporalSetup": map[string]any{"checkOnly": true}}},
		"api-key-value": {"temporal": map[string]any{"apiKey": map[string]any{"value": "secret-key"}}},
	}
	tlsToggles = map[string]map[string]any{
		"no-tls":          {},
		"tls-system-cas":  {"temporal": map[string]any{"tls": map[string]any{"enabled": true, "mutual": false, "serverName": "temporal.example"}}},
		"tls-ca-only":     {"temporal": map[string]any{"tls": map[string]any{"enabled": true, "mutual": false, "existingSecret": "temporal-tls"}}},
		"tls-mutual":      {"temporal": map[string]any{"tls": map[string]any{"enabled": true, "existingSecret": "temporal-tls"}}},
		"tls-mutual-noca": {"temporal": map[string]any{"tls": map[string]any{"enabled": true, "ca": false, "existingSecret": "temporal-tls"}}},
	}
	monitorToggles = map[string]map[string]any{
		"no-monitor": {},
		"monitor":    {"serviceMonitor": map[string]any{"enabled": true, "labels": map[string]any{"release": "prometheus"}}},
	}
	volumeToggles = map[string]map[string]any{
		"fake-volumes": {},
		"file-volumes": {"volume": map[string]any{"driver": "file", "hostPath": "/var/lib/novaflow/volume"}, "compute": map[string]any{"hostPath": "/var/lib/novaflow/compute"}},
		"process":      {"compute": map[string]any{"driver": "process", "driverOptions": "soft_reboot_timeout:30s", "hostPath": "/srv/novaflow"}},
	}
	authToggles = map[string]map[string]any{
		"no-auth": {},
		"auth-files": {"auth": map[string]any{"enabled": true, "issuer": "https://id.example", "audience": "novaflow-prod",
			"jwks": map[string]any{"existingSecret": "novaflow-auth", "key": "keys.json"}, "policy": map[string]any{"existingConfigMap": "novaflow-policy"},
			"token": map[string]any{"existingSecret": "novaflow-service-token"}}},
		"auth-url": {"auth": map[string]any{"enabled": true, "issuer": "https://id.example", "jwksURL": "https://id.example/jwks"}},
	}
	settingToggles = map[string]map[string]any{
		"default-settings": {},
		"settings": {
			"image":      map[string]any{"repository": "registry.example/novaflow", "tag": "1.2.3"},
			"temporal":   map[string]any{"address": "temporal.example:7233", "namespace": "novaflow", "retention": "30d", "grpcCompression": "none"},
			"config":     map[string]any{"NOVAFLOW_LOG_LEVEL": "debug", "NOVAFLOW_GRACEFUL_SHUTDOWN_TIMEOUT": "120s"},
			"extraEnv":   []any{map[string]any{"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": "http://otel:4317"}},
			"healthPort": 9090, "terminationGracePeriodSeconds": 150,
			"payloadKeys": map[string]any{"existingSecret": "novaflow-payload-keys", "key": "ring.json"},
			"conductor": map[string]any{"replicas": 3, "env": map[string]any{"NOVAFLOW_RPC_RESPONSE_TIMEOUT": "90s"}, "podDisruptionBudget": map[string]any{"minAvailable": 2},
				"nodeSelector": map[string]any{"novaflow/control": "true"}, "tolerations": []any{map[string]any{"key": "control", "operator": "Exists", "effect": "NoSchedule"}}},
			"compute": map[string]any{"nodeSelector": map[string]any{"novaflow/compute": "true"}},
		},
	}
)

// sortedKeys are a map's keys in order, for configurations named the same
// in every run.
func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// chartConfigs are the configurations the chart is rendered in: every
// combination of the wiring toggles (database, API key, TLS, monitor,
// drivers, settings), authorization's settings in turn over them, and every subset of the topics and of the hooks
// each with a wiring that
// changes from one to the next.
func chartConfigs() []chartConfig {
	var wiring []chartConfig
	for _, db := range sortedKeys(databaseToggles) {
		for _, key := range sortedKeys(apiKeyToggles) {
			for _, tls := range sortedKeys(tlsToggles) {
				for _, mon := range sortedKeys(monitorToggles) {
					for _, vol := range sortedKeys(volumeToggles) {
						for _, set := range sortedKeys(settingToggles) {
							// Authorization takes each of its settings in
							// turn, a third of the combinations each.
							auth := sortedKeys(authToggles)[len(wiring)%len(authToggles)]
							v := baseValues()
							for _, t := range []map[string]any{databaseToggles[db], apiKeyToggles[key], tlsToggles[tls], monitorToggles[mon], volumeToggles[vol], settingToggles[set], authToggles[auth]} {
								v = merged(v, t)
							}
							wiring = append(wiring, chartConfig{name: strings.Join([]string{db, key, tls, mon, vol, set, auth}, ","), values: v})
						}
					}
				}
			}
		}
	}
	out := slices.Clone(wiring)
	topics := []string{"conductor", "scheduler", "compute", "volume"}
	hooks := []string{"temporalSetup", "migrate"}
	n := 0
	for mask := 0; mask < 1<<len(topics); mask++ {
		for hmask := 0; hmask < 1<<len(hooks); hmask++ {
			{
				w := wiring[(n*37)%len(wiring)]
				n++
				v := merged(w.values, nil)
				var name []string
				for i, t := range topics {
					on := mask&(1<<i) != 0
					v = merged(v, map[string]any{t: map[string]any{"enabled": on}})
					if on {
						name = append(name, t)
					}
				}
				hooksVals := map[string]any{}
				for i, h := range hooks {
					on := hmask&(1<<i) != 0
					hooksVals[h] = map[string]any{"enabled": on}
					if on {
						name = append(name, h)
					}
				}
				v = merged(v, map[string]any{"hooks": hooksVals})
				// A volume service on the file driver needs compute's
				// directory, whether compute runs here or not: still valid.
				out = append(out, chartConfig{name: fmt.Sprintf("only[%s],%s", strings.Join(name, "+"), w.name), values: v})
			}
		}
	}
	// The release name decides the objects' names.
	out = append(out, chartConfig{name: "release-prod", release: "prod", values: baseValues()})
	return out
}

var helmInit sync.Once

// kubeVersion is the cluster the chart is rendered for: the oldest its
// Chart.yaml accepts (the manifests are decoded into newer types, which
// accept every field of older ones).
var kubeVersion = func() *common.KubeVersion {
	v, err := common.ParseKubeVersion("v1.27.0")
	if err != nil {
		panic(err)
	}
	return v
}()

// renderChart renders the chart as `helm install --dry-run=client` does,
// with Helm's Go SDK: the release's manifest and its hooks, parsed by Helm.
func renderChart(ch *chart.Chart, release string, vals map[string]any) (*releasev1.Release, error) {
	helmInit.Do(func() { slog.SetDefault(slog.New(slog.DiscardHandler)) })
	inst := action.NewInstall(action.NewConfiguration())
	inst.DryRunStrategy = action.DryRunClient
	inst.ReleaseName = release
	inst.Namespace = "novaflow"
	inst.Replace = true
	inst.KubeVersion = kubeVersion
	r, err := inst.Run(ch, vals)
	if err != nil {
		return nil, err
	}
	rel, ok := r.(*releasev1.Release)
	if !ok {
		return nil, fmt.Errorf("release of type %T", r)
	}
	return rel, nil
}

// lintChart lints the chart with these values as `helm lint --strict`
// does: Chart.yaml, values.schema.json, the templates rendered and parsed.
func lintChart(vals map[string]any) []error {
	l := action.NewLint()
	l.Strict = true
	l.Namespace = "novaflow"
	l.KubeVersion = kubeVersion
	return l.Run([]string{filepath.Join(repoRoot, chartDir)}, vals).Errors
}

// helmRendering is one rendering of the chart, decoded.
type helmRendering struct {
	m     *manifests
	hooks map[string]*releasev1.Hook // kind/name
}

func decodeRelease(rel *releasev1.Release) (*helmRendering, error) {
	stream := rel.Manifest
	h := &helmRendering{hooks: map[string]*releasev1.Hook{}}
	for _, hk := range rel.Hooks {
		stream += "\n---\n" + hk.Manifest
		h.hooks[hk.Kind+"/"+hk.Name] = hk
	}
	objs, err := decodeManifests([]byte(stream))
	if err != nil {
		return nil, err
	}
	h.m = index(objs)
	return h, nil
}

// kindOf names an object's kind for the hooks' keys.
func kindOf(o metav1.Object) string {
	t := fmt.Sprintf("%T", o)
	return t[strings.LastIndex(t, ".")+1:]
}

// workloadEnv is a container's environment as written (value or the kind
// of reference).
func workloadEnv(c corev1.Container) map[string]string {
	env := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env[e.Name] = e.Value
		} else {
			env[e.Name] = "<ref>"
		}
	}
	return env
}

// component is what a workload runs: the topic, migrate or temporal-setup.
func component(w workload) string {
	c := w.spec.Containers[0]
	switch {
	case w.topic != "":
		return w.topic
	case isTemporalSetup(c.Args):
		return "temporal-setup"
	}
	return strings.Join(c.Args, " ")
}

// checkChart returns what is wrong with one rendering of the chart in
// configuration vals: the checks of the kustomize manifests, then the
// chart's own: hooks, the values honoured, secrets as files only, the
// ServiceMonitor, and the kustomize base's security context, probes and
// commands.
func checkChart(ch *chart.Chart, vals map[string]any, h *helmRendering, s settings, base *manifests) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	m := h.m

	// What the values ask for.
	m.wantTopics = map[string]string{}
	for t, kind := range map[string]string{"conductor": "Deployment", "scheduler": "Deployment", "compute": "DaemonSet", "volume": "DaemonSet"} {
		if truthy(value(ch, vals, t+".enabled")) {
			m.wantTopics[t] = kind
		}
	}
	for _, p := range []string{"database.existingSecret", "temporal.apiKey.existingSecret", "temporal.tls.existingSecret", "payloadKeys.existingSecret", "auth.jwks.existingSecret", "auth.token.existingSecret"} {
		if name, _ := value(ch, vals, p).(string); name != "" {
			m.external[name] = true
		}
	}
	errs = append(errs, m.check(s)...)

	tag, _ := value(ch, vals, "image.tag").(string)
	if tag == "" {
		tag = ch.Metadata.AppVersion
	}
	wantImage := fmt.Sprint(value(ch, vals, "image.repository")) + ":" + tag
	secretValues := []string{}
	for _, p := range []string{"database.url", "temporal.apiKey.value"} {
		if v, _ := value(ch, vals, p).(string); v != "" {
			secretValues = append(secretValues, v)
		}
	}
	hookOf := func(o metav1.Object) *releasev1.Hook { return h.hooks[kindOf(o)+"/"+o.GetName()] }
	jobWeights := map[string]int{}
	for _, w := range m.workloads() {
		where := w.kind + "/" + w.name
		c := w.spec.Containers[0]
		comp := component(w)
		env := workloadEnv(c)
		if c.Image != wantImage {
			fail("%s: image %s, want %s (image.repository and image.tag, or the chart's appVersion)", where, c.Image, wantImage)
		}
		for k, v := range env {
			for _, sv := range secretValues {
				if strings.Contains(v, sv) {
					fail("%s: %s holds a secret's value: secrets are mounted as files", where, k)
				}
			}
			if k == "NOVAFLOW_DATABASE_URL" || k == "NOVAFLOW_TEMPORAL_API_KEY" {
				fail("%s: %s is set: the chart passes secrets as files (%s_FILE)", where, k, k)
			}
		}
		if comp != "temporal-setup" && env["NOVAFLOW_DATABASE_URL_FILE"] == "" {
			fail("%s: no NOVAFLOW_DATABASE_URL_FILE", where)
		}
		if comp != "migrate" {
			if env["NOVAFLOW_TEMPORAL_ADDRESS"] != fmt.Sprint(value(ch, vals, "temporal.address")) || env["NOVAFLOW_TEMPORAL_NAMESPACE"] != fmt.Sprint(value(ch, vals, "temporal.namespace")) {
				fail("%s: Temporal %s / %s, want temporal.address and temporal.namespace", where, env["NOVAFLOW_TEMPORAL_ADDRESS"], env["NOVAFLOW_TEMPORAL_NAMESPACE"])
			}
			if tls := truthy(value(ch, vals, "temporal.tls.enabled")); tls != (env["NOVAFLOW_TEMPORAL_TLS"] == "true") {
				fail("%s: NOVAFLOW_TEMPORAL_TLS=%q with temporal.tls.enabled %v", where, env["NOVAFLOW_TEMPORAL_TLS"], tls)
			}
			secretTLS := truthy(value(ch, vals, "temporal.tls.enabled")) && truthy(value(ch, vals, "temporal.tls.existingSecret"))
			if mutual := secretTLS && truthy(value(ch, vals, "temporal.tls.mutual")); mutual != (env["NOVAFLOW_TEMPORAL_TLS_CERT"] != "" && env["NOVAFLOW_TEMPORAL_TLS_KEY"] != "") {
				fail("%s: client certificate %q / %q with mutual TLS %v", where, env["NOVAFLOW_TEMPORAL_TLS_CERT"], env["NOVAFLOW_TEMPORAL_TLS_KEY"], mutual)
			}
			if ca := secretTLS && truthy(value(ch, vals, "temporal.tls.ca")); ca != (env["NOVAFLOW_TEMPORAL_TLS_CA"] != "") {
				fail("%s: NOVAFLOW_TEMPORAL_TLS_CA=%q with temporal.tls.ca %v", where, env["NOVAFLOW_TEMPORAL_TLS_CA"], ca)
			}
			apiKey := truthy(value(ch, vals, "temporal.apiKey.existingSecret")) || truthy(value(ch, vals, "temporal.apiKey.value"))
			if apiKey != (env["NOVAFLOW_TEMPORAL_API_KEY_FILE"] != "") {
				fail("%s: NOVAFLOW_TEMPORAL_API_KEY_FILE=%q with an API key configured: %v", where, env["NOVAFLOW_TEMPORAL_API_KEY_FILE"], apiKey)
			}
		}
		if keys := w.topic != "" && truthy(value(ch, vals, "payloadKeys.existingSecret")); keys != (env["NOVAFLOW_PAYLOAD_KEYS_FILE"] != "") {
			fail("%s: NOVAFLOW_PAYLOAD_KEYS_FILE=%q with a key ring for the services: %v", where, env["NOVAFLOW_PAYLOAD_KEYS_FILE"], keys)
		}
		if auth := w.topic != "" && truthy(value(ch, vals, "auth.enabled")); auth != (env["NOVAFLOW_AUTH"] == "true") {
			fail("%s: NOVAFLOW_AUTH=%q with auth.enabled %v (services only)", where, env["NOVAFLOW_AUTH"], auth)
		} else if auth {
			jwks := fmt.Sprint(value(ch, vals, "auth.jwksURL"))
			if truthy(value(ch, vals, "auth.jwks.existingSecret")) {
				jwks = "/etc/novaflow/auth-jwks/jwks.json"
			}
			if env["NOVAFLOW_AUTH_JWKS"] != jwks || env["NOVAFLOW_AUTH_ISSUER"] != fmt.Sprint(value(ch, vals, "auth.issuer")) {
				fail("%s: NOVAFLOW_AUTH_JWKS=%q NOVAFLOW_AUTH_ISSUER=%q, want %s and auth.issuer", where, env["NOVAFLOW_AUTH_JWKS"], env["NOVAFLOW_AUTH_ISSUER"], jwks)
			}
			if token := truthy(value(ch, vals, "auth.token.existingSecret")); token != (env["NOVAFLOW_TOKEN_FILE"] != "") {
				fail("%s: NOVAFLOW_TOKEN_FILE=%q with auth.token.existingSecret %v", where, env["NOVAFLOW_TOKEN_FILE"], token)
			}
		}
		if comp == "compute" && env["NOVAFLOW_COMPUTE_DRIVER"] != fmt.Sprint(value(ch, vals, "compute.driver")) {
			fail("%s: NOVAFLOW_COMPUTE_DRIVER=%q, want compute.driver", where, env["NOVAFLOW_COMPUTE_DRIVER"])
		}
		if comp == "volume" && env["NOVAFLOW_VOLUME_DRIVER"] != fmt.Sprint(value(ch, vals, "volume.driver")) {
			fail("%s: NOVAFLOW_VOLUME_DRIVER=%q, want volume.driver", where, env["NOVAFLOW_VOLUME_DRIVER"])
		}
		if comp == "temporal-setup" {
			want := []string{"temporal", "setup"}
			if r := value(ch, vals, "temporal.retention"); truthy(r) {
				want = append(want, "--retention", fmt.Sprint(r))
			}
			if truthy(value(ch, vals, "hooks.temporalSetup.checkOnly")) {
				want = []string{"temporal", "setup", "--check"}
			}
			if !slices.Equal(c.Args, want) {
				fail("%s: args %q, want %q (temporal.retention, hooks.temporalSetup.checkOnly)", where, c.Args, want)
			}
		}

		// Hooks: the Jobs, and only they, before every install and
		// upgrade, deleted when they succeeded and before the next.
		hk := h.hooks[w.kind+"/"+w.name]
		if w.kind != "Job" {
			if hk != nil {
				fail("%s: a service is a hook: Helm would not manage it as part of the release", where)
			}
		} else {
			switch {
			case hk == nil:
				fail("%s: not a hook: it would run beside the services, not before them, and block the next upgrade", where)
			case !slices.Contains(hk.Events, releasev1.HookPreInstall) || !slices.Contains(hk.Events, releasev1.HookPreUpgrade):
				fail("%s: hook events %v, want pre-install and pre-upgrade", where, hk.Events)
			case !slices.Contains(hk.DeletePolicies, releasev1.HookBeforeHookCreation) || !slices.Contains(hk.DeletePolicies, releasev1.HookSucceeded):
				fail("%s: hook delete policies %v, want before-hook-creation and hook-succeeded (no Job left to delete before an upgrade)", where, hk.DeletePolicies)
			}
			if hk != nil {
				jobWeights[comp] = hk.Weight
				// What a hook uses exists before it: a hook of a lower
				// weight, or the installation's.
				sa := m.serviceAccounts[w.spec.ServiceAccountName]
				if sa != nil {
					if shk := hookOf(sa); shk == nil || shk.Weight >= hk.Weight || !slices.Contains(shk.Events, releasev1.HookPreInstall) {
						fail("%s: its ServiceAccount %s is not a hook of a lower weight: it would not exist when the Job starts", where, sa.Name)
					}
				}
				for _, v := range w.spec.Volumes {
					if v.Secret == nil {
						continue
					}
					if sec := m.secrets[v.Secret.SecretName]; sec != nil {
						if shk := hookOf(sec); shk == nil || shk.Weight >= hk.Weight || !slices.Contains(shk.Events, releasev1.HookPreInstall) || !slices.Contains(shk.Events, releasev1.HookPreUpgrade) {
							fail("%s: its Secret %s is not a hook of a lower weight: it would not exist (or be stale) when the Job starts", where, sec.Name)
						}
					}
				}
			}
		}
		// A service uses what stays: no hook deleted when it succeeded.
		if w.kind != "Job" {
			if sa := m.serviceAccounts[w.spec.ServiceAccountName]; sa != nil && hookOf(sa) != nil {
				fail("%s: its ServiceAccount %s is a hook", where, sa.Name)
			}
			for _, v := range w.spec.Volumes {
				if v.Secret == nil {
					continue
				}
				if sec := m.secrets[v.Secret.SecretName]; sec != nil {
					if shk := hookOf(sec); shk != nil && slices.Contains(shk.DeletePolicies, releasev1.HookSucceeded) {
						fail("%s: its Secret %s is deleted when the hooks succeed", where, v.Secret.SecretName)
					}
				}
			}
		}

		// As the kustomize base runs the same component.
		for _, bw := range base.workloads() {
			if component(bw) != comp {
				continue
			}
			bc := bw.spec.Containers[0]
			if !equality.Semantic.DeepEqual(w.spec.SecurityContext, bw.spec.SecurityContext) {
				fail("%s: pod security context %v, the kustomize base's %s has %v", where, w.spec.SecurityContext, bw.name, bw.spec.SecurityContext)
			}
			if !equality.Semantic.DeepEqual(c.SecurityContext, bc.SecurityContext) {
				fail("%s: container security context %v, the kustomize base's %s has %v", where, c.SecurityContext, bw.name, bc.SecurityContext)
			}
			if !equality.Semantic.DeepEqual(w.spec.AutomountServiceAccountToken, bw.spec.AutomountServiceAccountToken) {
				fail("%s: automountServiceAccountToken differs from the kustomize base's", where)
			}
			if !slices.Equal(c.Args[:min(len(c.Args), len(bc.Args))], bc.Args) {
				fail("%s: args %q, the kustomize base's %s has %q", where, c.Args, bw.name, bc.Args)
			}
			for _, p := range []struct {
				name      string
				got, want *corev1.Probe
			}{{"liveness", c.LivenessProbe, bc.LivenessProbe}, {"readiness", c.ReadinessProbe, bc.ReadinessProbe}, {"startup", c.StartupProbe, bc.StartupProbe}} {
				if !equality.Semantic.DeepEqual(p.got, p.want) {
					fail("%s: %s probe %v, the kustomize base's %s has %v", where, p.name, p.got, bw.name, p.want)
				}
			}
			if bh, hh := workloadEnv(bc)["NOVAFLOW_HOST"], env["NOVAFLOW_HOST"]; bh != hh {
				fail("%s: NOVAFLOW_HOST %q, the base's %q", where, hh, bh)
			}
		}
	}
	if jobWeights["temporal-setup"] != 0 || len(jobWeights) == 2 && jobWeights["temporal-setup"] >= jobWeights["migrate"] {
		fail("hook weights %v: the Temporal set-up runs first, then the migration", jobWeights)
	}
	for name, want := range map[string]bool{"temporal-setup": truthy(value(ch, vals, "hooks.temporalSetup.enabled")), "migrate": truthy(value(ch, vals, "hooks.migrate.enabled"))} {
		if _, ok := jobWeights[name]; ok != want {
			fail("hook %s rendered %v, enabled %v", name, ok, want)
		}
	}
	// Prometheus: a ServiceMonitor when asked, over a Service that selects
	// every service's pods on the health port's name.
	monitor := truthy(value(ch, vals, "serviceMonitor.enabled"))
	if monitor != (len(m.serviceMonitors) == 1) || len(m.serviceMonitors) > 1 {
		fail("%d ServiceMonitors with serviceMonitor.enabled %v", len(m.serviceMonitors), monitor)
	}
	for _, sm := range m.serviceMonitors {
		for k, v := range value(ch, vals, "serviceMonitor.labels").(map[string]any) {
			if sm.Labels[k] != fmt.Sprint(v) {
				fail("ServiceMonitor/%s: label %s=%q, want serviceMonitor.labels' %v", sm.Name, k, sm.Labels[k], v)
			}
		}
		sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
		if err != nil {
			fail("ServiceMonitor/%s: selector: %v", sm.Name, err)
			continue
		}
		var svcs []*corev1.Service
		for _, svc := range m.services {
			if sel.Matches(labels.Set(svc.Labels)) {
				svcs = append(svcs, svc)
			}
		}
		if len(svcs) != 1 {
			fail("ServiceMonitor/%s: selects %d Services, want 1", sm.Name, len(svcs))
			continue
		}
		svc := svcs[0]
		if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Path != "/metrics" {
			fail("ServiceMonitor/%s: endpoints %v, want one on /metrics", sm.Name, sm.Spec.Endpoints)
			continue
		}
		ep := sm.Spec.Endpoints[0]
		var port *corev1.ServicePort
		for i := range svc.Spec.Ports {
			if svc.Spec.Ports[i].Name == ep.Port {
				port = &svc.Spec.Ports[i]
			}
		}
		if port == nil {
			fail("ServiceMonitor/%s: endpoint port %v is no port of Service %s", sm.Name, ep.Port, svc.Name)
			continue
		}
		for _, w := range m.workloads() {
			if w.topic == "" {
				continue
			}
			if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(w.labels)) {
				fail("Service/%s: does not select the pods of %s/%s", svc.Name, w.kind, w.name)
			}
			if resolvePort(w.spec.Containers[0], port.TargetPort.String()) == 0 {
				fail("Service/%s: target port %s is no container port of %s/%s", svc.Name, port.TargetPort.String(), w.kind, w.name)
			}
		}
	}
	return errs
}

// renderBase renders the kustomize base, the reference the chart's pods are
// compared with.
func renderBase(t *testing.T) *manifests {
	t.Helper()
	objs, err := decodeManifests(renderKustomization(t, "deploy/kubernetes/base"))
	if err != nil {
		t.Fatal(err)
	}
	return index(objs)
}

func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	ch, err := loader.Load(filepath.Join(repoRoot, chartDir))
	if err != nil {
		t.Fatalf("%s: %v", chartDir, err)
	}
	return ch
}

// TestHelmChart lints and renders the chart in every configuration of
// chartConfigs and checks each rendering.
func TestHelmChart(t *testing.T) {
	s := loadSettings(t)
	base := renderBase(t)
	ch := loadChart(t)
	configs := chartConfigs()
	objects := 0
	for _, cfg := range configs {
		release := cmpOr(cfg.release, "novaflow")
		if errs := lintChart(cfg.values); len(errs) != 0 {
			t.Errorf("%s: helm lint: %v", cfg.name, errs)
			continue
		}
		rel, err := renderChart(ch, release, cfg.values)
		if err != nil {
			t.Errorf("%s: render: %v", cfg.name, err)
			continue
		}
		h, err := decodeRelease(rel)
		if err != nil {
			t.Errorf("%s: %v", cfg.name, err)
			continue
		}
		objects += len(h.m.all)
		for _, err := range checkChart(ch, cfg.values, h, s, base) {
			t.Errorf("%s: %v", cfg.name, err)
		}
	}
	t.Logf("%d configurations linted, rendered and checked: %d objects", len(configs), objects)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// TestHelmChartRefuses gives the chart values it must refuse, each with the
// words its error must have: the schema's and the templates' own checks.
func TestHelmChartRefuses(t *testing.T) {
	ch := loadChart(t)
	cases := []struct {
		name   string
		values map[string]any
		want   string
		schema bool // refused by values.schema.json, which lint checks too; else by a template's fail, which lint only logs
	}{
		{"no database", map[string]any{}, "database: set existingSecret", false},
		{"compute without a driver", merged(baseValues(), map[string]any{"compute": map[string]any{"driver": ""}}), "compute.driver: required", false},
		{"the chart's defaults alone", map[string]any{"database": map[string]any{"existingSecret": "db"}}, "compute.driver: required", false},
		{"file volumes without the node's directories", merged(baseValues(), map[string]any{"volume": map[string]any{"driver": "file"}}), "volume.driver file: set volume.hostPath and compute.hostPath", false},
		{"mutual TLS without a Secret", merged(baseValues(), map[string]any{"temporal": map[string]any{"tls": map[string]any{"enabled": true}}}), "temporal.tls.mutual: needs temporal.tls.existingSecret", false},
		{"TLS Secret with TLS off", merged(baseValues(), map[string]any{"temporal": map[string]any{"tls": map[string]any{"existingSecret": "x"}}}), "temporal.tls.enabled is false", false},
		{"PodDisruptionBudget as large as the replicas", merged(baseValues(), map[string]any{"scheduler": map[string]any{"replicas": 2, "podDisruptionBudget": map[string]any{"minAvailable": 2}}}), "scheduler: replicas 2 must be above podDisruptionBudget.minAvailable 2", false},
		{"one conductor", merged(baseValues(), map[string]any{"conductor": map[string]any{"replicas": 1}}), "/conductor/replicas", true},
		{"misspelt value", merged(baseValues(), map[string]any{"conductor": map[string]any{"replica": 3}}), "replica", true},
		{"misspelt top-level value", merged(baseValues(), map[string]any{"temporl": map[string]any{}}), "temporl", true},
		{"unknown setting name", merged(baseValues(), map[string]any{"config": map[string]any{"novaflow_log_level": "debug"}}), "novaflow_log_level", true},
		{"authorization without the issuer's keys", merged(baseValues(), map[string]any{"auth": map[string]any{"enabled": true, "issuer": "https://id.example"}}), "auth.enabled: set auth.issuer, and auth.jwksURL or auth.jwks.existingSecret", false},
		{"JWKS over plain HTTP", merged(baseValues(), map[string]any{"auth": map[string]any{"jwksURL": "http://id.example/jwks"}}), "/auth/jwksURL", true},
		{"address without a port", merged(baseValues(), map[string]any{"temporal": map[string]any{"address": "temporal"}}), "/temporal/address", true},
		{"database URL of another kind", merged(baseValues(), map[string]any{"database": map[string]any{"existingSecret": "", "url": "mysql://x"}}), "/database/url", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := renderChart(ch, "novaflow", c.values)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("render: error %v, want one containing %q", err, c.want)
			}
			if !c.schema {
				return
			}
			errs := lintChart(c.values)
			if !slices.ContainsFunc(errs, func(err error) bool { return strings.Contains(err.Error(), c.want) }) {
				t.Errorf("lint: errors %v, want one containing %q", errs, c.want)
			}
		})
	}
}

// TestHelmChecksCatchMistakes breaks a rendering of the chart in the ways
// the chart's checks are for, one at a time, and expects each to be found.
func TestHelmChecksCatchMistakes(t *testing.T) {
	s := loadSettings(t)
	base := renderBase(t)
	ch := loadChart(t)
	vals := merged(baseValues(), merged(tlsToggles["tls-mutual"], merged(apiKeyToggles["api-key-value"], merged(monitorToggles["monitor"], authToggles["auth-files"]))))
	job := func(h *helmRendering, suffix string) *corev1.PodSpec {
		for _, j := range h.m.jobs {
			if strings.HasSuffix(j.Name, suffix) {
				return &j.Spec.Template.Spec
			}
		}
		t.Fatalf("no Job %s", suffix)
		return nil
	}
	deployment := func(h *helmRendering, topic string) *corev1.PodSpec {
		for _, d := range h.m.deployments {
			if strings.HasSuffix(d.Name, "-"+topic) {
				return &d.Spec.Template.Spec
			}
		}
		t.Fatalf("no Deployment %s", topic)
		return nil
	}
	setEnv := func(c *corev1.Container, name, value string) {
		for i := range c.Env {
			if c.Env[i].Name == name {
				c.Env[i].Value = value
				return
			}
		}
		c.Env = append(c.Env, corev1.EnvVar{Name: name, Value: value})
	}
	cases := []struct {
		name   string
		break_ func(h *helmRendering)
		want   string
	}{
		{"migration not a hook", func(h *helmRendering) { delete(h.hooks, "Job/novaflow-migrate") }, "Job/novaflow-migrate: not a hook"},
		{"hook kept after success", func(h *helmRendering) {
			h.hooks["Job/novaflow-migrate"].DeletePolicies = []releasev1.HookDeletePolicy{releasev1.HookBeforeHookCreation}
		}, "want before-hook-creation and hook-succeeded"},
		{"hook on install only", func(h *helmRendering) {
			h.hooks["Job/novaflow-temporal-setup"].Events = []releasev1.HookEvent{releasev1.HookPreInstall}
		}, "want pre-install and pre-upgrade"},
		{"hook ServiceAccount after the Jobs", func(h *helmRendering) { h.hooks["ServiceAccount/novaflow-hooks"].Weight = 5 }, "its ServiceAccount novaflow-hooks is not a hook of a lower weight"},
		{"hook Jobs on the services' ServiceAccount", func(h *helmRendering) { job(h, "-migrate").ServiceAccountName = "novaflow" }, "its ServiceAccount novaflow is not a hook"},
		{"written Secret deleted after the hooks", func(h *helmRendering) {
			h.hooks["Secret/novaflow-secrets"].DeletePolicies = append(h.hooks["Secret/novaflow-secrets"].DeletePolicies, releasev1.HookSucceeded)
		}, "is deleted when the hooks succeed"},
		{"migration after the services' set-up", func(h *helmRendering) { h.hooks["Job/novaflow-migrate"].Weight = -1 }, "the Temporal set-up runs first"},
		{"database URL in the environment", func(h *helmRendering) {
			setEnv(&deployment(h, "scheduler").Containers[0], "NOVAFLOW_DATABASE_URL", "postgres://x")
		}, "NOVAFLOW_DATABASE_URL is set: the chart passes secrets as files"},
		{"database file not mounted", func(h *helmRendering) {
			c := &deployment(h, "conductor").Containers[0]
			c.VolumeMounts = slices.DeleteFunc(c.VolumeMounts, func(vm corev1.VolumeMount) bool { return vm.Name == "database" })
		}, "NOVAFLOW_DATABASE_URL_FILE=/etc/novaflow/database/database-url is not in a mounted Secret volume"},
		{"API key file of another name", func(h *helmRendering) {
			setEnv(&deployment(h, "conductor").Containers[0], "NOVAFLOW_TEMPORAL_API_KEY_FILE", "/etc/novaflow/temporal-api-key/key")
		}, "has no item of path key"},
		{"API key Secret without the key", func(h *helmRendering) {
			delete(h.m.secrets["novaflow-secrets"].StringData, "temporal-api-key")
		}, `Secret novaflow-secrets has no key "temporal-api-key"`},
		{"TLS key unreadable", func(h *helmRendering) {
			for _, v := range job(h, "-temporal-setup").Volumes {
				if v.Name == "temporal-tls" {
					mode := int32(0o400)
					v.Secret.DefaultMode = &mode
				}
			}
		}, "unreadable by the pod's user"},
		{"secret volume without fsGroup", func(h *helmRendering) { deployment(h, "scheduler").SecurityContext.FSGroup = nil }, "unreadable by the pod's user"},
		{"security context not the base's", func(h *helmRendering) {
			deployment(h, "scheduler").SecurityContext.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}
		}, "pod security context"},
		{"container capabilities not the base's", func(h *helmRendering) {
			job(h, "-migrate").Containers[0].SecurityContext.Capabilities.Add = []corev1.Capability{"NET_ADMIN"}
		}, "container security context"},
		{"liveness probe not the base's", func(h *helmRendering) {
			deployment(h, "conductor").Containers[0].LivenessProbe.PeriodSeconds = 60
		}, "liveness probe"},
		{"another address for the set-up", func(h *helmRendering) {
			setEnv(&job(h, "-temporal-setup").Containers[0], "NOVAFLOW_TEMPORAL_ADDRESS", "elsewhere:7233")
		}, "want temporal.address"},
		{"the set-up without TLS", func(h *helmRendering) {
			c := &job(h, "-temporal-setup").Containers[0]
			c.Env = slices.DeleteFunc(c.Env, func(e corev1.EnvVar) bool {
				return e.Name == "NOVAFLOW_TEMPORAL_TLS_SERVER_NAME" || e.Name == "NOVAFLOW_TEMPORAL_TLS_CERT"
			})
		}, "Temporal settings"},
		{"another image", func(h *helmRendering) { deployment(h, "conductor").Containers[0].Image = "novaflow:0.9.0" }, "want novaflow:1.0.0"},
		{"ServiceMonitor on another port", func(h *helmRendering) { h.m.serviceMonitors[0].Spec.Endpoints[0].Port = "metrics" }, "endpoint port metrics is no port"},
		{"metrics Service misses the pods", func(h *helmRendering) {
			for _, svc := range h.m.services {
				svc.Spec.Selector["app.kubernetes.io/instance"] = "other"
			}
		}, "does not select the pods"},
		{"no ServiceMonitor", func(h *helmRendering) { h.m.serviceMonitors = nil }, "0 ServiceMonitors with serviceMonitor.enabled true"},
		{"service token not mounted", func(h *helmRendering) {
			c := &deployment(h, "scheduler").Containers[0]
			c.VolumeMounts = slices.DeleteFunc(c.VolumeMounts, func(vm corev1.VolumeMount) bool { return vm.Name == "token" })
		}, "NOVAFLOW_TOKEN_FILE=/etc/novaflow/token/token is not in a mounted Secret volume"},
		{"authorization off in one service", func(h *helmRendering) {
			setEnv(&deployment(h, "conductor").Containers[0], "NOVAFLOW_AUTH", "false")
		}, "with auth.enabled true"},
		{"issuer's keys elsewhere", func(h *helmRendering) {
			setEnv(&deployment(h, "conductor").Containers[0], "NOVAFLOW_AUTH_JWKS", "https://other.example/jwks")
		}, "want /etc/novaflow/auth-jwks/jwks.json"},
		{"services without remove-on-stop", func(h *helmRendering) {
			setEnv(&deployment(h, "scheduler").Containers[0], "NOVAFLOW_REMOVE_ON_STOP", "false")
		}, "NOVAFLOW_REMOVE_ON_STOP"},
	}
	rel, err := renderChart(ch, "novaflow", vals)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, err := decodeRelease(rel)
			if err != nil {
				t.Fatal(err)
			}
			if errs := checkChart(ch, vals, h, s, base); len(errs) != 0 {
				t.Fatalf("the unbroken rendering fails: %v", errs)
			}
			h, _ = decodeRelease(rel)
			// The hooks as Helm parsed them, copied: a case changes them.
			for k, hk := range h.hooks {
				cp := *hk
				cp.Events, cp.DeletePolicies = slices.Clone(hk.Events), slices.Clone(hk.DeletePolicies)
				h.hooks[k] = &cp
			}
			c.break_(h)
			errs := checkChart(ch, vals, h, s, base)
			if !slices.ContainsFunc(errs, func(err error) bool { return strings.Contains(err.Error(), c.want) }) {
				t.Errorf("errors %v, want one containing %q", errs, c.want)
			}
		})
	}
}
