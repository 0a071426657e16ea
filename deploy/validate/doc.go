// Package validate checks the deployment files under deploy/ without running
// them: the Kubernetes manifests (rendered with kubectl kustomize and decoded
// strictly into the Kubernetes API types), the Helm chart (linted and
// rendered with Helm's Go SDK in every configuration of its values, then
// checked as the manifests are), the compose file (loaded with compose-go and
// decoded strictly; its Temporal schema script run against a real
// PostgreSQL with the pinned server's temporal-sql-tool), the systemd unit (systemd-analyze verify)
// and the Dockerfile (parsed with BuildKit's parser and linter). It is a
// module of its own so that the Kubernetes and compose libraries stay out of
// novaflow's go.mod; .ci/run runs its tests.
package validate
