package worker

import (
	"context"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
)

// TODO(schedules): report and periodic schedules land with the schedules work.

func (s *Service) registerSchedules(w sdkworker.Worker, queue string) {}

func (s *Service) reconcileSchedules(ctx context.Context) error { return nil }

func (s *Service) pauseSchedules(ctx context.Context, note string) error { return nil }

// DeleteSchedules deletes the schedules of the service (binary on host).
func DeleteSchedules(ctx context.Context, c client.Client, topic, binary, host string) error {
	return nil
}
