package worker

import (
	"fmt"
	"sync"

	sdkworker "go.temporal.io/sdk/worker"

	"github.com/novaflow/novaflow/activities"
)

// startWorkers starts the RPC consumers: one Temporal worker on the shared
// queue <topic> (any host of the topic may take the work) and one on
// <topic>.<host> (this host only), both running the manager's methods and the
// workflows that call them.
func (s *Service) startWorkers() error {
	for _, queue := range []string{s.topic, s.HostQueue()} {
		w := sdkworker.New(s.client, queue, sdkworker.Options{
			WorkerStopTimeout: s.cfg.GracefulShutdownTimeout,
			Identity:          fmt.Sprintf("%s@%s", s.binary, s.host),
		})
		s.register(w, queue)
		if err := w.Start(); err != nil {
			return fmt.Errorf("start worker on task queue %s: %w", queue, err)
		}
		s.workers = append(s.workers, w)
	}
	return nil
}

// register puts the manager's activities and novaflow's workflows on w.
func (s *Service) register(w sdkworker.Worker, queue string) {
	activities.RegisterMethods(w, s.topic, s.mgr.RPCMethods())
	s.registerSchedules(w, queue)
}

// stopWorkers stops polling on every queue at once and waits, up to the
// graceful shutdown timeout, for in-flight activities to finish.
func (s *Service) stopWorkers() {
	var wg sync.WaitGroup
	for _, w := range s.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.Stop()
		}()
	}
	wg.Wait()
	s.workers = nil
}
