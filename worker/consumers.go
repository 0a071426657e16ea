package worker

import (
	"context"
	"fmt"
	"sync"

	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/novaflow/novaflow/activities"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/rpc"
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
			DeploymentOptions: s.deploymentOptions(queue),
			Interceptors:      s.interceptors(),
		})
		s.register(w, queue)
		if err := w.Start(); err != nil {
			return fmt.Errorf("start worker on task queue %s: %w", queue, err)
		}
		s.workers = append(s.workers, w)
	}
	return s.promoteBuild(context.Background())
}

// register puts the manager's activities and novaflow's workflows on w: each
// RPC method as activity <topic>.<method> and as the workflow of the same
// name that calls it (from package rpc or `temporal workflow start`), and the
// services-table activity that fanouts list their hosts with. The mutable
// settings they use (NOVAFLOW_CAST_TIMEOUT as the deadline of an execution
// started without one, the service down time) are read when used, so a
// SIGHUP changes them (Service.live).
func (s *Service) register(w sdkworker.Worker, queue string) {
	methods := s.mgr.RPCMethods()
	activities.RegisterMethods(w, s.topic, methods)
	activities.RegisterServices(w, &activities.Services{Store: s.store, DownTime: s.cfg.DownTime(), CurrentDownTime: s.live.downTime})
	s.calls.RegisterActivities(w)
	router, routed := s.mgr.(managers.Router)
	if routed {
		activities.RegisterRouter(w, s.topic, router)
	}
	rpc.RegisterWorkflows(w, s.topic, methods, rpc.WorkflowOptions{DefaultTimeout: s.cfg.CastTimeout, CurrentDefaultTimeout: s.live.castTimeout, Routed: routed})
	if queue == s.HostQueue() {
		rpc.RegisterUnknownMethods(w, s.topic, s.host, rpc.ServedVersion(methods))
	}
	if wp, ok := s.mgr.(managers.WorkflowProvider); ok {
		for _, wf := range wp.Workflows() {
			w.RegisterWorkflowWithOptions(wf.Func, workflow.RegisterOptions{Name: wf.Name})
		}
	}
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
