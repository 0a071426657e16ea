package validate

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// kustomizations are the folders `kubectl kustomize` renders, with the
// Secrets each expects from the installation rather than renders: the base
// leaves the database URL (and the optional Temporal API key) to it.
var kustomizations = []struct {
	dir      string
	external []string
}{
	{"deploy/kubernetes/base", []string{"novaflow-secrets"}},
	{"deploy/kubernetes/overlays/example", nil},
}

// perNode are the topics whose service is one per node (a DaemonSet), its
// host the node's name: their drivers act on the node.
var perNode = map[string]bool{"compute": true, "volume": true}

// newObject returns an empty object of the Go type of a kind; every kind the
// manifests use is here, any other fails the test.
func newObject(apiVersion, kind string) (metav1.Object, error) {
	switch apiVersion + "/" + kind {
	case "v1/Namespace":
		return &corev1.Namespace{}, nil
	case "v1/ServiceAccount":
		return &corev1.ServiceAccount{}, nil
	case "v1/ConfigMap":
		return &corev1.ConfigMap{}, nil
	case "v1/Secret":
		return &corev1.Secret{}, nil
	case "apps/v1/Deployment":
		return &appsv1.Deployment{}, nil
	case "apps/v1/DaemonSet":
		return &appsv1.DaemonSet{}, nil
	case "batch/v1/Job":
		return &batchv1.Job{}, nil
	case "policy/v1/PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}, nil
	case "v1/Service":
		return &corev1.Service{}, nil
	case "monitoring.coreos.com/v1/ServiceMonitor":
		return &monitoringv1.ServiceMonitor{}, nil
	}
	return nil, fmt.Errorf("kind %s %s: not one the checks know", apiVersion, kind)
}

// renderKustomization runs `kubectl kustomize` on a folder of the checkout.
func renderKustomization(t *testing.T, dir string) []byte {
	t.Helper()
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatalf("kubectl is needed to render the manifests (kubectl kustomize, offline): %v", err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(kubectl, "kustomize", filepath.Join(repoRoot, dir))
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, stderr.String())
	}
	return stdout.Bytes()
}

// decodeManifests splits a multi-document YAML stream and decodes each
// document strictly into its Kubernetes API type: an unknown or duplicated
// field is an error.
func decodeManifests(stream []byte) ([]metav1.Object, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(stream)))
	var out []metav1.Object
	for i := 0; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		obj, err := newObject(tm.APIVersion, tm.Kind)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			return nil, fmt.Errorf("document %d (%s): %w", i, tm.Kind, err)
		}
		out = append(out, obj)
	}
}

// manifests are the decoded objects of one rendering, by kind and name.
type manifests struct {
	namespaces      []*corev1.Namespace
	serviceAccounts map[string]*corev1.ServiceAccount
	configMaps      map[string]*corev1.ConfigMap
	secrets         map[string]*corev1.Secret
	deployments     []*appsv1.Deployment
	daemonSets      []*appsv1.DaemonSet
	jobs            []*batchv1.Job
	pdbs            []*policyv1.PodDisruptionBudget
	services        map[string]*corev1.Service
	serviceMonitors []*monitoringv1.ServiceMonitor
	all             []metav1.Object
	// wantTopics are the topics the rendering must run, each by the kind
	// of its controller.
	wantTopics map[string]string
	// external are Secrets the installation provides itself, which the
	// rendering may lack.
	external map[string]bool
}

func index(objs []metav1.Object) *manifests {
	m := &manifests{serviceAccounts: map[string]*corev1.ServiceAccount{}, configMaps: map[string]*corev1.ConfigMap{},
		secrets: map[string]*corev1.Secret{}, services: map[string]*corev1.Service{}, all: objs, external: map[string]bool{},
		wantTopics: map[string]string{"compute": "DaemonSet", "volume": "DaemonSet", "scheduler": "Deployment", "conductor": "Deployment"}}
	for _, o := range objs {
		switch o := o.(type) {
		case *corev1.Namespace:
			m.namespaces = append(m.namespaces, o)
		case *corev1.ServiceAccount:
			m.serviceAccounts[o.Name] = o
		case *corev1.ConfigMap:
			m.configMaps[o.Name] = o
		case *corev1.Secret:
			m.secrets[o.Name] = o
		case *appsv1.Deployment:
			m.deployments = append(m.deployments, o)
		case *appsv1.DaemonSet:
			m.daemonSets = append(m.daemonSets, o)
		case *batchv1.Job:
			m.jobs = append(m.jobs, o)
		case *policyv1.PodDisruptionBudget:
			m.pdbs = append(m.pdbs, o)
		case *corev1.Service:
			m.services[o.Name] = o
		case *monitoringv1.ServiceMonitor:
			m.serviceMonitors = append(m.serviceMonitors, o)
		}
	}
	return m
}

// workload is a pod template with what owns it.
type workload struct {
	kind, name string
	labels     map[string]string // of the pod template
	spec       *corev1.PodSpec
	meta       *metav1.ObjectMeta // of the pod template
	topic      string             // of `novaflow run <topic>`; "" for the migration
}

func (m *manifests) workloads() []workload {
	var out []workload
	for _, d := range m.deployments {
		out = append(out, workload{kind: "Deployment", name: d.Name, labels: d.Spec.Template.Labels, spec: &d.Spec.Template.Spec, meta: &d.Spec.Template.ObjectMeta})
	}
	for _, d := range m.daemonSets {
		out = append(out, workload{kind: "DaemonSet", name: d.Name, labels: d.Spec.Template.Labels, spec: &d.Spec.Template.Spec, meta: &d.Spec.Template.ObjectMeta})
	}
	for _, j := range m.jobs {
		out = append(out, workload{kind: "Job", name: j.Name, labels: j.Spec.Template.Labels, spec: &j.Spec.Template.Spec, meta: &j.Spec.Template.ObjectMeta})
	}
	for i, w := range out {
		if len(w.spec.Containers) > 0 {
			if args := w.spec.Containers[0].Args; len(args) == 2 && args[0] == "run" {
				out[i].topic = args[1]
			}
		}
	}
	return out
}

// check runs every cross-reference check on a rendering and returns what is
// wrong.
func (m *manifests) check(s settings) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	images := map[string]bool{}
	topics := map[string]string{} // topic -> kind
	var temporalEnv map[string]string
	var temporalEnvOf string
	for _, w := range m.workloads() {
		where := w.kind + "/" + w.name
		if len(w.spec.Containers) != 1 {
			fail("%s: %d containers, want 1", where, len(w.spec.Containers))
			continue
		}
		c := w.spec.Containers[0]
		images[c.Image] = true
		switch {
		case w.kind == "Job" && slices.Equal(c.Args, []string{"migrate"}):
		case w.kind == "Job" && isTemporalSetup(c.Args):
		case w.kind != "Job" && w.topic != "":
			topics[w.topic] = w.kind
		default:
			fail("%s: args %q: want [run <topic>] (or [migrate] or [temporal setup] in a Job)", where, c.Args)
		}
		if _, ok := m.serviceAccounts[w.spec.ServiceAccountName]; !ok {
			fail("%s: service account %q is not in the manifests", where, w.spec.ServiceAccountName)
		}
		env := m.checkEnv(where, c, s, fail)
		m.checkVolumes(where, w.spec, c, env, fail)
		checkResources(where, c, fail)
		checkSecurity(where, w.spec, c, fail)
		temporalSetup := isTemporalSetup(c.Args)
		if w.kind == "Job" {
			for _, ref := range configMapRefs(c) {
				if hashedName.MatchString(ref) {
					fail("%s: reads ConfigMap %s, whose name changes with its content: the Job's template would change with it, and a Job's template cannot change", where, ref)
				}
			}
		}
		if temporalSetup || w.topic != "" {
			// One Temporal client configuration for all.
			t := map[string]string{}
			for k, v := range env {
				if strings.HasPrefix(k, "NOVAFLOW_TEMPORAL_") {
					t[k] = v
				}
			}
			if temporalEnv == nil {
				temporalEnv, temporalEnvOf = t, where
			} else if !maps.Equal(t, temporalEnv) {
				fail("%s: Temporal settings %v, but %s has %v", where, t, temporalEnvOf, temporalEnv)
			}
		}
		_, dbURL := env["NOVAFLOW_DATABASE_URL"]
		_, dbFile := env["NOVAFLOW_DATABASE_URL_FILE"]
		if !dbURL && !dbFile && !temporalSetup {
			fail("%s: neither NOVAFLOW_DATABASE_URL nor NOVAFLOW_DATABASE_URL_FILE is set", where)
		}
		if _, ok := env["NOVAFLOW_TEMPORAL_ADDRESS"]; !ok && temporalSetup {
			fail("%s: NOVAFLOW_TEMPORAL_ADDRESS is not set", where)
		}
		if w.topic == "" {
			continue
		}
		// Pods named after themselves leave no down rows behind; a
		// per-node service's row outlives its pod.
		switch {
		case w.kind == "Deployment" && env["NOVAFLOW_REMOVE_ON_STOP"] != "true":
			fail("%s: NOVAFLOW_REMOVE_ON_STOP=%q: want true, so that a rollout leaves no down rows of old pods", where, env["NOVAFLOW_REMOVE_ON_STOP"])
		case w.kind == "DaemonSet" && env["NOVAFLOW_REMOVE_ON_STOP"] == "true":
			fail("%s: NOVAFLOW_REMOVE_ON_STOP=true: a per-node service refuses it (its row must outlive the pod)", where)
		}
		// compute refuses to start without its driver (nova's compute_driver).
		if w.topic == "compute" && env["NOVAFLOW_COMPUTE_DRIVER"] == "" {
			fail("%s: NOVAFLOW_COMPUTE_DRIVER is not set: compute refuses to start without it", where)
		}
		// A service: its host, health endpoints, probes, scraping, stop.
		host := ""
		for _, e := range c.Env {
			if e.Name == "NOVAFLOW_HOST" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
				host = e.ValueFrom.FieldRef.FieldPath
			}
		}
		wantHost := "metadata.name"
		if perNode[w.topic] {
			wantHost = "spec.nodeName"
		}
		if host != wantHost {
			fail("%s: NOVAFLOW_HOST from %q, want the field %s", where, host, wantHost)
		}
		healthPort := 0
		if _, port, err := net.SplitHostPort(env["NOVAFLOW_HEALTH_ADDRESS"]); err == nil {
			healthPort, _ = strconv.Atoi(port)
		}
		if healthPort == 0 {
			fail("%s: NOVAFLOW_HEALTH_ADDRESS=%q: the probes need the health endpoints", where, env["NOVAFLOW_HEALTH_ADDRESS"])
		} else if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return int(p.ContainerPort) == healthPort }) {
			fail("%s: no container port %d, where NOVAFLOW_HEALTH_ADDRESS serves", where, healthPort)
		}
		for _, p := range []struct {
			name, path string
			probe      *corev1.Probe
		}{{"liveness", "/healthz", c.LivenessProbe}, {"readiness", "/readyz", c.ReadinessProbe}, {"startup", "", c.StartupProbe}} {
			if p.probe == nil {
				if p.name != "startup" {
					fail("%s: no %s probe", where, p.name)
				}
				continue
			}
			g := p.probe.HTTPGet
			if g == nil {
				fail("%s: %s probe is not an HTTP GET", where, p.name)
				continue
			}
			if p.path != "" && g.Path != p.path {
				fail("%s: %s probe on %s, want %s", where, p.name, g.Path, p.path)
			}
			if port := resolvePort(c, g.Port.String()); port == 0 {
				fail("%s: %s probe port %s is not a container port", where, p.name, g.Port.String())
			} else if port != healthPort {
				fail("%s: %s probe port %d, but NOVAFLOW_HEALTH_ADDRESS serves on %d", where, p.name, port, healthPort)
			}
		}
		a := w.meta.Annotations
		if a["prometheus.io/scrape"] != "true" || a["prometheus.io/path"] != "/metrics" || a["prometheus.io/port"] != strconv.Itoa(healthPort) {
			fail("%s: Prometheus annotations %v, want scrape=true, path=/metrics, port=%d", where, a, healthPort)
		}
		graceful, err := s.gracefulTimeout(env)
		if err != nil {
			fail("%s: %v", where, err)
		} else if w.spec.TerminationGracePeriodSeconds == nil || time.Duration(*w.spec.TerminationGracePeriodSeconds)*time.Second < graceful+10*time.Second {
			fail("%s: terminationGracePeriodSeconds %v, want at least NOVAFLOW_GRACEFUL_SHUTDOWN_TIMEOUT (%s) + 10s", where, w.spec.TerminationGracePeriodSeconds, graceful)
		}
	}
	if len(images) > 1 {
		fail("images %v: want one image for every topic", keys(images))
	}
	for topic, kind := range m.wantTopics {
		if topics[topic] != kind {
			fail("topic %s runs as %q, want a %s", topic, topics[topic], kind)
		}
	}
	m.checkControllers(fail)
	if len(m.namespaces) == 1 {
		for _, o := range m.all {
			if _, isNS := o.(*corev1.Namespace); !isNS && o.GetNamespace() != m.namespaces[0].Name {
				fail("%s: in namespace %q, want %q", o.GetName(), o.GetNamespace(), m.namespaces[0].Name)
			}
		}
	}
	return errs
}

// checkEnv checks a container's env references and returns its effective
// NOVAFLOW_* settings (literal values, and "" for those from secrets).
func (m *manifests) checkEnv(where string, c corev1.Container, s settings, fail func(string, ...any)) map[string]string {
	env := map[string]string{}
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			cm, ok := m.configMaps[from.ConfigMapRef.Name]
			if !ok {
				fail("%s: envFrom ConfigMap %q is not in the manifests", where, from.ConfigMapRef.Name)
				continue
			}
			for k, v := range cm.Data {
				env[k] = v
			}
		case from.SecretRef != nil:
			if _, ok := m.secrets[from.SecretRef.Name]; !ok {
				fail("%s: envFrom Secret %q is not in the manifests", where, from.SecretRef.Name)
			}
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			sec, ok := m.secrets[ref.Name]
			optional := ref.Optional != nil && *ref.Optional
			hasKey := false
			if ok {
				_, hasKey = sec.Data[ref.Key]
				if _, hasString := sec.StringData[ref.Key]; hasString {
					hasKey = true
				}
			}
			switch {
			case !ok && m.external[ref.Name]:
			case !ok && !optional:
				fail("%s: %s from Secret %q, which is not in the manifests", where, e.Name, ref.Name)
			case ok && !hasKey && !optional:
				fail("%s: %s from key %q of Secret %s, which has no such key", where, e.Name, ref.Key, ref.Name)
			}
			env[e.Name] = ""
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			cm, ok := m.configMaps[ref.Name]
			if !ok {
				cm = &corev1.ConfigMap{}
			}
			if v, has := cm.Data[ref.Key]; ok && has {
				env[e.Name] = v
			} else if ref.Optional == nil || !*ref.Optional {
				fail("%s: %s from key %q of ConfigMap %q, which is missing", where, e.Name, ref.Key, ref.Name)
			}
		default:
			env[e.Name] = ""
		}
	}
	for k, v := range env {
		if !s.envAllowed(k) {
			fail("%s: %s is not a novaflow setting (docs/configuration.md)", where, k)
		}
		if k == "NOVAFLOW_VERSIONING" && v != "auto" && v != "manual" && v != "off" {
			fail("%s: NOVAFLOW_VERSIONING=%q: want auto, manual or off", where, v)
		}
	}
	return env
}

// checkVolumes checks that mounts name volumes, that secret and ConfigMap
// volumes name objects and keys that exist, and that the TLS files the
// settings name are in a mounted folder.
func (m *manifests) checkVolumes(where string, spec *corev1.PodSpec, c corev1.Container, env map[string]string, fail func(string, ...any)) {
	vols := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		vols[v.Name] = v
		if v.Secret != nil {
			sec, ok := m.secrets[v.Secret.SecretName]
			optional := v.Secret.Optional != nil && *v.Secret.Optional
			if !ok && !optional && !m.external[v.Secret.SecretName] {
				fail("%s: volume %s: Secret %q is not in the manifests", where, v.Name, v.Secret.SecretName)
			}
			for _, item := range v.Secret.Items {
				if !ok {
					break
				}
				if _, has := sec.Data[item.Key]; !has {
					if _, hasString := sec.StringData[item.Key]; !hasString {
						fail("%s: volume %s: Secret %s has no key %q", where, v.Name, v.Secret.SecretName, item.Key)
					}
				}
			}
		}
	}
	mounted := map[string]bool{}
	for _, vm := range c.VolumeMounts {
		if _, ok := vols[vm.Name]; !ok {
			fail("%s: volume mount %s names no volume", where, vm.Name)
		}
		mounted[vm.MountPath] = true
	}
	// A file setting names a file of a mounted Secret volume that holds
	// it, readable by the pod's user.
	for _, k := range []string{"NOVAFLOW_TEMPORAL_TLS_CA", "NOVAFLOW_TEMPORAL_TLS_CERT", "NOVAFLOW_TEMPORAL_TLS_KEY", "NOVAFLOW_DATABASE_URL_FILE", "NOVAFLOW_TEMPORAL_API_KEY_FILE", "NOVAFLOW_PAYLOAD_KEYS_FILE", "NOVAFLOW_TOKEN_FILE", "NOVAFLOW_AUTH_JWKS"} {
		if p := env[k]; p != "" && !strings.HasPrefix(p, "https://") {
			m.checkSecretFile(where, spec, c, k, p, fail)
		}
	}
	for _, k := range []string{"NOVAFLOW_COMPUTE_STATE_DIR", "NOVAFLOW_VOLUME_DATA_DIR", "NOVAFLOW_AUTH_POLICY_FILE"} {
		if p := env[k]; p != "" && !mounted[filepath.Dir(p)] && !mounted[p] {
			fail("%s: %s=%s is not in a mounted volume", where, k, p)
		}
	}
	// The file volume driver links volumes under mount_root (compute's
	// state dir): it must be mounted in the volume pod too.
	if p := driverOption(env["NOVAFLOW_VOLUME_DRIVER_OPTIONS"], "mount_root"); p != "" && !mounted[p] && !mounted[filepath.Dir(p)] {
		fail("%s: NOVAFLOW_VOLUME_DRIVER_OPTIONS mount_root:%s is not in a mounted volume", where, p)
	}
	if c.SecurityContext != nil && c.SecurityContext.ReadOnlyRootFilesystem != nil && *c.SecurityContext.ReadOnlyRootFilesystem && !mounted["/tmp"] {
		fail("%s: read-only root file system without a volume on /tmp (the start-up check writes the temp dir)", where)
	}
}

// isTemporalSetup reports whether args are `temporal setup [flags]`.
func isTemporalSetup(args []string) bool {
	return len(args) >= 2 && args[0] == "temporal" && args[1] == "setup"
}

// hashedName is a name kustomize's generators made: the name, a dash and
// ten characters of its hash alphabet.
var hashedName = regexp.MustCompile(`-[bcdfghkmt2-9]{10}$`)

// configMapRefs are the ConfigMaps a container reads its environment from.
func configMapRefs(c corev1.Container) []string {
	var out []string
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef != nil {
			out = append(out, ef.ConfigMapRef.Name)
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil {
			out = append(out, e.ValueFrom.ConfigMapKeyRef.Name)
		}
	}
	return out
}

// checkSecretFile checks that the file path, which setting names, is a file
// of a Secret volume mounted on its folder, from a key the Secret has (when
// the Secret is in the manifests), and that the pod's user can read it: a
// Secret volume's files belong to root and to the pod's fsGroup.
func (m *manifests) checkSecretFile(where string, spec *corev1.PodSpec, c corev1.Container, setting, path string, fail func(string, ...any)) {
	dir, file := filepath.Dir(path), filepath.Base(path)
	var vol *corev1.Volume
	for _, vm := range c.VolumeMounts {
		if vm.MountPath != dir || vm.SubPath != "" {
			continue
		}
		for i := range spec.Volumes {
			if spec.Volumes[i].Name == vm.Name {
				vol = &spec.Volumes[i]
			}
		}
	}
	if vol == nil || vol.Secret == nil {
		fail("%s: %s=%s is not in a mounted Secret volume", where, setting, path)
		return
	}
	mode := int32(0o644) // Kubernetes' default
	if vol.Secret.DefaultMode != nil {
		mode = *vol.Secret.DefaultMode
	}
	key := file
	if len(vol.Secret.Items) > 0 {
		key = ""
		for _, it := range vol.Secret.Items {
			if it.Path == file {
				key = it.Key
				if it.Mode != nil {
					mode = *it.Mode
				}
			}
		}
		if key == "" {
			fail("%s: %s=%s: the Secret volume %s has no item of path %s", where, setting, path, vol.Name, file)
			return
		}
	}
	if sec, ok := m.secrets[vol.Secret.SecretName]; ok {
		_, has := sec.Data[key]
		if _, hasString := sec.StringData[key]; !has && !hasString {
			fail("%s: %s=%s: Secret %s has no key %q", where, setting, path, sec.Name, key)
		}
	}
	psc := spec.SecurityContext
	byGroup := psc != nil && psc.FSGroup != nil && mode&0o040 != 0
	if mode&0o004 == 0 && !byGroup {
		fail("%s: %s=%s: mode %#o of Secret volume %s: unreadable by the pod's user (no fsGroup with group read, no read for others)", where, setting, path, mode, vol.Name)
	}
}

// driverOption is the value of key in a driver options setting
// (key:value pairs separated by commas); "" when absent.
func driverOption(options, key string) string {
	for _, kv := range strings.Split(options, ",") {
		if k, v, ok := strings.Cut(strings.TrimSpace(kv), ":"); ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func checkResources(where string, c corev1.Container, fail func(string, ...any)) {
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, hasReq := c.Resources.Requests[name]
		lim, hasLim := c.Resources.Limits[name]
		if !hasReq || !hasLim {
			fail("%s: %s request and limit must both be set", where, name)
			continue
		}
		if req.Cmp(lim) > 0 || req.Cmp(resource.Quantity{}) <= 0 {
			fail("%s: %s request %s, limit %s", where, name, req.String(), lim.String())
		}
	}
}

func checkSecurity(where string, spec *corev1.PodSpec, c corev1.Container, fail func(string, ...any)) {
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		fail("%s: the pod must run as a non-root user", where)
	}
	sc := c.SecurityContext
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		fail("%s: container security context must forbid privilege escalation, drop ALL capabilities and keep the root file system read-only", where)
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		fail("%s: the services need no Kubernetes API token (automountServiceAccountToken: false)", where)
	}
}

// resolvePort returns the container port a probe's port (a number or a
// port name) means; 0 when none.
func resolvePort(c corev1.Container, port string) int {
	for _, p := range c.Ports {
		if p.Name == port || strconv.Itoa(int(p.ContainerPort)) == port {
			return int(p.ContainerPort)
		}
	}
	return 0
}

// checkControllers checks selectors, rollout strategy and disruption
// budgets.
func (m *manifests) checkControllers(fail func(string, ...any)) {
	for _, d := range m.deployments {
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			fail("Deployment/%s: selector does not select its pods (%v)", d.Name, err)
		}
		if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
			fail("Deployment/%s: replicas %v, want at least 2 (replicas > 1 are safe)", d.Name, d.Spec.Replicas)
		}
		if ru := d.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
			fail("Deployment/%s: a rolling update must start a new pod before stopping an old one (maxUnavailable: 0)", d.Name)
		}
		covered := 0
		for _, p := range m.pdbs {
			ps, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
			if err == nil && ps.Matches(labels.Set(d.Spec.Template.Labels)) {
				covered++
				if p.Spec.MinAvailable == nil || d.Spec.Replicas == nil || p.Spec.MinAvailable.IntValue() >= int(*d.Spec.Replicas) {
					fail("PodDisruptionBudget/%s: minAvailable %v leaves no disruption to the %d replicas of %s", p.Name, p.Spec.MinAvailable, *d.Spec.Replicas, d.Name)
				}
			}
		}
		if covered != 1 {
			fail("Deployment/%s: %d PodDisruptionBudgets select its pods, want 1", d.Name, covered)
		}
	}
	for _, p := range m.pdbs {
		ps, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
		if err != nil || ps.Empty() {
			fail("PodDisruptionBudget/%s: bad selector (%v)", p.Name, err)
			continue
		}
		if !slices.ContainsFunc(m.deployments, func(d *appsv1.Deployment) bool { return ps.Matches(labels.Set(d.Spec.Template.Labels)) }) {
			fail("PodDisruptionBudget/%s: selects no Deployment's pods", p.Name)
		}
	}
	for _, d := range m.daemonSets {
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			fail("DaemonSet/%s: selector does not select its pods (%v)", d.Name, err)
		}
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestKubernetesManifests(t *testing.T) {
	s := loadSettings(t)
	for _, k := range kustomizations {
		dir := k.dir
		t.Run(filepath.Base(dir), func(t *testing.T) {
			objs, err := decodeManifests(renderKustomization(t, dir))
			if err != nil {
				t.Fatalf("%s: %v", dir, err)
			}
			m := index(objs)
			for _, name := range k.external {
				m.external[name] = true
			}
			for _, err := range m.check(s) {
				t.Errorf("%s: %v", dir, err)
			}
			t.Logf("%s: %d objects", dir, len(objs))
		})
	}
}

// daemonSet is the rendering's DaemonSet of that name; nil when none.
func daemonSet(m *manifests, name string) *appsv1.DaemonSet {
	for _, d := range m.daemonSets {
		if d.Name == name {
			return d
		}
	}
	return nil
}

// TestKubernetesChecksCatchMistakes breaks the rendered example overlay in
// the ways the checks are for, one at a time, and expects each to be found.
func TestKubernetesChecksCatchMistakes(t *testing.T) {
	s := loadSettings(t)
	rendered := renderKustomization(t, "deploy/kubernetes/overlays/example")
	if _, err := decodeManifests(bytes.Replace(rendered, []byte("  replicas: 3\n"), []byte("  replicas: 3\n  replica: 3\n"), 1)); err == nil ||
		!strings.Contains(err.Error(), "unknown field") {
		t.Errorf("an unknown field: error %v, want unknown field", err)
	}
	cases := []struct {
		name   string
		break_ func(m *manifests)
		want   string
	}{
		{"readiness probe on another port", func(m *manifests) {
			m.deployments[0].Spec.Template.Spec.Containers[0].ReadinessProbe.HTTPGet.Port.StrVal = "metrics"
		}, "readiness probe port metrics"},
		{"health address elsewhere", func(m *manifests) {
			for _, cm := range m.configMaps {
				cm.Data["NOVAFLOW_HEALTH_ADDRESS"] = ":9090"
			}
		}, "no container port 9090"},
		{"grace period below the graceful timeout", func(m *manifests) {
			sixty := int64(60)
			m.daemonSets[0].Spec.Template.Spec.TerminationGracePeriodSeconds = &sixty
		}, "terminationGracePeriodSeconds"},
		{"secret key missing", func(m *manifests) {
			for _, sec := range m.secrets {
				delete(sec.Data, "database-url")
			}
		}, `key "database-url"`},
		{"config map missing", func(m *manifests) { m.configMaps = map[string]*corev1.ConfigMap{} }, "envFrom ConfigMap"},
		{"unknown setting", func(m *manifests) {
			for _, cm := range m.configMaps {
				cm.Data["NOVAFLOW_TEMPORAL_ADRESS"] = "x:1"
			}
		}, "NOVAFLOW_TEMPORAL_ADRESS is not a novaflow setting"},
		{"PDB selects nothing", func(m *manifests) {
			m.pdbs[0].Spec.Selector.MatchLabels["app.kubernetes.io/component"] = "nothing"
		}, "selects no Deployment"},
		{"compute host from the pod name", func(m *manifests) {
			for i, e := range m.daemonSets[0].Spec.Template.Spec.Containers[0].Env {
				if e.Name == "NOVAFLOW_HOST" {
					m.daemonSets[0].Spec.Template.Spec.Containers[0].Env[i].ValueFrom.FieldRef.FieldPath = "metadata.name"
				}
			}
		}, "NOVAFLOW_HOST from \"metadata.name\", want the field spec.nodeName"},
		{"volume host from the pod name", func(m *manifests) {
			c := &daemonSet(m, "novaflow-volume").Spec.Template.Spec.Containers[0]
			for i, e := range c.Env {
				if e.Name == "NOVAFLOW_HOST" {
					c.Env[i].ValueFrom.FieldRef.FieldPath = "metadata.name"
				}
			}
		}, "DaemonSet/novaflow-volume: NOVAFLOW_HOST from \"metadata.name\", want the field spec.nodeName"},
		{"no volume DaemonSet", func(m *manifests) {
			m.daemonSets = slices.DeleteFunc(m.daemonSets, func(d *appsv1.DaemonSet) bool { return d.Name == "novaflow-volume" })
		}, `topic volume runs as "", want a DaemonSet`},
		{"volume data dir not mounted", func(m *manifests) {
			c := &daemonSet(m, "novaflow-volume").Spec.Template.Spec.Containers[0]
			c.VolumeMounts = slices.DeleteFunc(c.VolumeMounts, func(vm corev1.VolumeMount) bool { return vm.MountPath == "/var/lib/novaflow/volume" })
		}, "NOVAFLOW_VOLUME_DATA_DIR=/var/lib/novaflow/volume is not in a mounted volume"},
		{"mount_root not mounted", func(m *manifests) {
			c := &daemonSet(m, "novaflow-volume").Spec.Template.Spec.Containers[0]
			c.Env = append(c.Env, corev1.EnvVar{Name: "NOVAFLOW_VOLUME_DRIVER_OPTIONS", Value: "mount_root:/var/lib/novaflow/compute"})
		}, "mount_root:/var/lib/novaflow/compute is not in a mounted volume"},
		{"TLS secret volume without its key", func(m *manifests) {
			for _, sec := range m.secrets {
				delete(sec.Data, "ca.crt")
			}
		}, `no key "ca.crt"`},
		{"no memory limit", func(m *manifests) {
			delete(m.jobs[0].Spec.Template.Spec.Containers[0].Resources.Limits, corev1.ResourceMemory)
		}, "memory request and limit"},
		{"two images", func(m *manifests) { m.jobs[0].Spec.Template.Spec.Containers[0].Image = "other" }, "want one image"},
		{"set-up Job on the hashed ConfigMap", func(m *manifests) {
			for _, j := range m.jobs {
				for i, ef := range j.Spec.Template.Spec.Containers[0].EnvFrom {
					if ef.ConfigMapRef != nil {
						for name := range m.configMaps {
							if strings.HasPrefix(name, "novaflow-config-") {
								j.Spec.Template.Spec.Containers[0].EnvFrom[i].ConfigMapRef.Name = name
							}
						}
					}
				}
			}
		}, "whose name changes with its content"},
		{"set-up Job without the TLS server name", func(m *manifests) {
			delete(m.configMaps["novaflow-temporal"].Data, "NOVAFLOW_TEMPORAL_TLS_SERVER_NAME")
		}, "Temporal settings"},
		{"TLS files unreadable without fsGroup", func(m *manifests) {
			m.deployments[0].Spec.Template.Spec.SecurityContext.FSGroup = nil
		}, "unreadable by the pod's user"},
		{"scrape port", func(m *manifests) {
			m.deployments[1].Spec.Template.Annotations["prometheus.io/port"] = "9090"
		}, "Prometheus annotations"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			objs, err := decodeManifests(rendered)
			if err != nil {
				t.Fatal(err)
			}
			m := index(objs)
			if errs := m.check(s); len(errs) != 0 {
				t.Fatalf("the unbroken overlay fails: %v", errs)
			}
			c.break_(m)
			errs := m.check(s)
			if !slices.ContainsFunc(errs, func(err error) bool { return strings.Contains(err.Error(), c.want) }) {
				t.Errorf("errors %v, want one containing %q", errs, c.want)
			}
		})
	}
}
