package worker

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// Values of NOVAFLOW_VERSIONING: how a service's workers take part in
// Temporal Worker Deployments when it has a build ID (docs/upgrades.md).
const (
	// VersioningAuto: the worker of the shared queue is versioned, and a
	// service makes its build the current version of its deployment at start
	// when that build is the deployment's newest version and no ramp is in
	// progress. A plain rolling update then moves new work to the new build
	// as soon as its first service is up, and never back to an older one.
	VersioningAuto = "auto"
	// VersioningManual: versioned as with auto, but the operator moves the
	// current version (temporal worker deployment set-current-version or
	// set-ramping-version); services never do.
	VersioningManual = "manual"
	// VersioningOff: unversioned workers, even with a build ID.
	VersioningOff = "off"
)

// DefaultVersioningBehavior is the versioning behaviour of every workflow a
// versioned service registers without one of its own: AutoUpgrade. novaflow's
// workflows are short (RPC calls, fanouts, periodic runs, status reports) or
// wait in an activity (casts, up to NOVAFLOW_CAST_TIMEOUT), and a rolling
// update removes the workers of the old build, so a Pinned workflow would
// wait for workers that never come back. An AutoUpgrade workflow moves to the
// current build at its next workflow task; every change to workflow code is
// therefore made replay-safe with workflow.GetVersion (docs/upgrades.md). A
// workflow that must finish on the build that started it registers with
// workflow.RegisterOptions{VersioningBehavior: workflow.VersioningBehaviorPinned},
// and its deployment keeps the old build running until it has drained.
const DefaultVersioningBehavior = workflow.VersioningBehaviorAutoUpgrade

// promoteTimeout bounds how long Start waits for the service's build to
// appear in its worker deployment and to become current.
const promoteTimeout = time.Minute

// DeploymentName is the Temporal Worker Deployment of a binary's services:
// the binary's name, e.g. novaflow-compute.
func DeploymentName(binary string) string { return binary }

// EffectiveBuildID returns the build ID the services of this process version their
// workers with: BuildIDOfBinary, or "" when NOVAFLOW_VERSIONING is off, which
// leaves the workers unversioned.
func (c Config) EffectiveBuildID() string {
	if c.Versioning == VersioningOff {
		return ""
	}
	return c.BuildIDOfBinary()
}

// BuildIDOfBinary returns the build this process runs: NOVAFLOW_BUILD_ID,
// else the VCS revision the binary was built from when its tree was clean;
// "" when there is none. Unlike EffectiveBuildID it does not depend on
// NOVAFLOW_VERSIONING: a service records it in its row (services.build_id,
// novaflow service list's BUILD) whether its workers are versioned or not.
func (c Config) BuildIDOfBinary() string {
	if c.BuildID != "" {
		return c.BuildID
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	return buildIDFromBuildInfo(bi)
}

// buildIDFromBuildInfo is the VCS revision of a binary built from a clean
// tree. A modified tree gives none: two different builds of it would share
// the revision, and one build ID must always mean the same workflow code.
func buildIDFromBuildInfo(bi *debug.BuildInfo) string {
	var revision string
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if modified {
		return ""
	}
	return revision
}

// deploymentOptions are the Worker Deployment options of the service's worker
// on queue. Only the worker of the shared queue <topic> is versioned: the
// host queue <topic>.<host> has one poller, this service, so its work always
// runs on the build the host runs, and a version switch must not wait for
// every host of the deployment to have a worker of the new build on its own
// queue (the server treats a task queue missing from the current version as
// unversioned, and refuses to switch while one has traffic).
func (s *Service) deploymentOptions(queue string) sdkworker.DeploymentOptions {
	build := s.cfg.EffectiveBuildID()
	if build == "" || queue != s.topic {
		return sdkworker.DeploymentOptions{}
	}
	return sdkworker.DeploymentOptions{
		UseVersioning:             true,
		Version:                   sdkworker.WorkerDeploymentVersion{DeploymentName: DeploymentName(s.binary), BuildID: build},
		DefaultVersioningBehavior: DefaultVersioningBehavior,
	}
}

// promoteBuild makes the service's build the current version of its worker
// deployment when NOVAFLOW_VERSIONING is auto (see decidePromotion). Its
// worker on the shared queue has started: the build appears in the
// deployment once that worker has polled. Until its build is current a
// versioned worker gets no new work, so a failure here fails the start, and
// a rolling update halts with the old build still serving.
func (s *Service) promoteBuild(ctx context.Context) error {
	build := s.cfg.EffectiveBuildID()
	deployment := DeploymentName(s.binary)
	if build == "" {
		s.logger.Info("worker versioning off: no build ID (set NOVAFLOW_BUILD_ID)")
		return nil
	}
	if s.cfg.Versioning != VersioningAuto && s.cfg.Versioning != "" {
		s.logger.Info("worker versioning: the operator sets the current version", "deployment", deployment, "build_id", build)
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, promoteTimeout)
	defer cancel()
	identity := fmt.Sprintf("%s@%s", s.binary, s.host)
	handle := s.client.WorkerDeploymentClient().GetHandle(deployment)
	wait := 100 * time.Millisecond
	var last error
	for {
		desc, err := handle.Describe(ctx, client.WorkerDeploymentDescribeOptions{})
		switch {
		case err == nil:
			var p promotion
			if p, last = decidePromotion(desc.Info, build, identity); last != nil {
				return fmt.Errorf("NOVAFLOW_VERSIONING=auto: worker deployment %s: %w", deployment, last)
			}
			switch p {
			case promoteDone:
				s.logger.Info("worker versioning: build is current", "deployment", deployment, "build_id", build)
				return nil
			case promoteSkip:
				s.logger.Warn("worker versioning: a newer build of this deployment exists, so this one does not become current and gets only work pinned to it; "+
					"to run it (a rollback): temporal worker deployment set-current-version --deployment-name "+deployment+" --build-id "+build,
					"deployment", deployment, "build_id", build, "current", versionString(desc.Info.RoutingConfig.CurrentVersion))
				return nil
			case promoteRamping:
				s.logger.Info("worker versioning: a ramp is in progress, the operator finishes it", "deployment", deployment, "build_id", build,
					"ramping", versionString(desc.Info.RoutingConfig.RampingVersion))
				return nil
			case promoteNow:
				_, err = handle.SetCurrentVersion(ctx, client.WorkerDeploymentSetCurrentVersionOptions{
					BuildID: build, ConflictToken: desc.ConflictToken, Identity: identity,
				})
				if err == nil {
					s.logger.Info("worker versioning: made build current", "deployment", deployment, "build_id", build,
						"previous", versionString(desc.Info.RoutingConfig.CurrentVersion))
					return nil
				}
				last = err
			case promoteWait:
				last = errors.New("build not registered yet")
			}
		default:
			last = err
		}
		// Not found: the deployment or version is not registered yet.
		// Failed precondition: another service changed the deployment
		// (conflict token), or the version's task queues are not all
		// registered yet. Both pass; anything else is for the operator.
		var notFound *serviceerror.NotFound
		var precondition *serviceerror.FailedPrecondition
		if err != nil && !errors.As(err, &notFound) && !errors.As(err, &precondition) {
			return fmt.Errorf("NOVAFLOW_VERSIONING=auto: make build %s the current version of worker deployment %s: %w", build, deployment, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("NOVAFLOW_VERSIONING=auto: build %s did not become the current version of worker deployment %s within %s: %v",
				build, deployment, promoteTimeout, last)
		case <-time.After(wait):
			wait = min(2*wait, 2*time.Second)
		}
	}
}

// promotion is what promoteBuild does about a deployment.
type promotion int

const (
	promoteWait    promotion = iota // the build is not in the deployment yet
	promoteNow                      // make the build current
	promoteDone                     // the build is current already
	promoteSkip                     // a newer build exists: leave it current
	promoteRamping                  // an operator is ramping: leave it to them
)

// decidePromotion decides whether build becomes the current version of a
// deployment described by info: yes when it is the newest version (by the
// time the server first saw it poll) and no ramp is in progress. So the first
// service of a new build takes over, and a service of an older build that
// restarts during or after the rollout does not take the deployment back
// (a rollback is the operator's: docs/upgrades.md). A deployment managed by
// another identity (its ManagerIdentity) is an error: such a deployment
// wants NOVAFLOW_VERSIONING=manual.
func decidePromotion(info client.WorkerDeploymentInfo, build, identity string) (promotion, error) {
	if info.ManagerIdentity != "" && info.ManagerIdentity != identity {
		return 0, fmt.Errorf("it is managed by %q (its manager identity): use NOVAFLOW_VERSIONING=manual", info.ManagerIdentity)
	}
	if cur := info.RoutingConfig.CurrentVersion; cur != nil && cur.BuildID == build {
		return promoteDone, nil
	}
	var mine *client.WorkerDeploymentVersionSummary
	for i, v := range info.VersionSummaries {
		if v.Version.BuildID == build {
			mine = &info.VersionSummaries[i]
		}
	}
	if mine == nil {
		return promoteWait, nil
	}
	for _, v := range info.VersionSummaries {
		if v.Version.BuildID != build && v.CreateTime.After(mine.CreateTime) {
			return promoteSkip, nil
		}
	}
	if info.RoutingConfig.RampingVersion != nil || info.RoutingConfig.RampingVersionPercentage > 0 {
		return promoteRamping, nil
	}
	return promoteNow, nil
}

func versionString(v *sdkworker.WorkerDeploymentVersion) string {
	if v == nil {
		return "(unversioned)"
	}
	return v.DeploymentName + ":" + v.BuildID
}
