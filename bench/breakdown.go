package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/novaflow/novaflow/rpc"
	"github.com/novaflow/novaflow/workflows"
)

// runBreakdown breaks calls down by their history's timestamps: where the
// time of a call goes, and what each of novaflow's additions costs against
// the raw SDK's workflow + local activity.
func runBreakdown(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("breakdown", flag.ExitOnError)
	var so serverOptions
	so.register(fs)
	n := fs.Int("n", 100, "runs")
	prof := fs.String("cpuprofile", "", "write a CPU profile of the calls")
	only := fs.String("only", "", "run only this kind; tput: the throughput of raw-la, raw-la-ver and call instead")
	fs.Parse(args)
	b, err := startRPCBench(ctx, so, nil)
	if err != nil {
		return err
	}
	defer b.close()
	// The other compression than the bench's clients use, for raw-la-<other>.
	other := map[string]string{"none": "gzip", "gzip": "none"}[b.srv.compression]
	nc, err := b.srv.dialWith(ctx, nil, client.ConnectionOptions{GrpcCompression: grpcCompression(other)})
	if err != nil {
		return err
	}
	defer nc.Close()
	nw, err := b.srv.dialWith(ctx, nil, client.ConnectionOptions{GrpcCompression: grpcCompression(other)})
	if err != nil {
		return err
	}
	defer nw.Close()
	w := sdkworker.New(nw, "rawn.h1", sdkworker.Options{})
	registerRaw(w)
	if err := w.Start(); err != nil {
		return err
	}
	defer w.Stop()
	// raw-la: raw SDK, workflow + local activity on raw.h1; -gzip/-none: its
	// clients with the other gRPC compression; -ver: with workflow.GetVersion first;
	// nf-raw-start: novaflow's workflow on bench.h1 started by a plain client;
	// raw-eager-la and local-durable: eager start in the host's process.
	kinds := []struct {
		name string
		do   func(i int) (string, error)
		c    client.Client
	}{
		{"raw-la", func(i int) (string, error) {
			id := "raw/" + uuid.NewString()
			r, err := b.rawCaller.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "raw.h1", WorkflowExecutionTimeout: time.Minute}, rawCallName, rawCall{Seq: i, Local: true})
			if err != nil {
				return "", err
			}
			return id, r.Get(ctx, nil)
		}, b.rawCaller},
		{"raw-la-" + other, func(i int) (string, error) {
			id := "raw/" + uuid.NewString()
			r, err := nc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "rawn.h1", WorkflowExecutionTimeout: time.Minute}, rawCallName, rawCall{Seq: i, Local: true})
			if err != nil {
				return "", err
			}
			return id, r.Get(ctx, nil)
		}, b.rawCaller},
		{"raw-la-ver", func(i int) (string, error) {
			id := "raw/" + uuid.NewString()
			r, err := b.rawCaller.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "raw.h1", WorkflowExecutionTimeout: time.Minute}, rawCallName, rawCall{Seq: i, Local: true, Versioned: true})
			if err != nil {
				return "", err
			}
			return id, r.Get(ctx, nil)
		}, b.rawCaller},
		{"nf-raw-start", func(i int) (string, error) {
			id := rpc.WorkflowID(benchTopic, "ping", benchHost, uuid.NewString())
			r, err := b.rawCaller.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "bench.h1", WorkflowExecutionTimeout: time.Minute,
				TypedSearchAttributes: temporal.NewSearchAttributes(workflows.TopicKey.ValueSet(benchTopic), workflows.HostKey.ValueSet(benchHost), workflows.MethodKey.ValueSet("ping"))},
				benchTopic+".ping", json.RawMessage(fmt.Sprintf(`{"host":"h1","seq":%d}`, i)))
			if err != nil {
				return "", err
			}
			return id, r.Get(ctx, nil)
		}, b.rawCaller},
		{"raw-eager-la", func(i int) (string, error) {
			id := "raw/" + uuid.NewString()
			r, err := b.rawEager.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "rawe.h1", WorkflowExecutionTimeout: time.Minute, EnableEagerStart: true}, rawCallName, rawCall{Seq: i, Local: true})
			if err != nil {
				return "", err
			}
			return id, r.Get(ctx, nil)
		}, b.rawCaller},
		{"local-durable", func(i int) (string, error) {
			rid := uuid.NewString()
			err := b.local.Call(ctx, benchTopic, "ping", pingRequest{Seq: i}, nil, rpc.ToHost(benchHost), rpc.RequestID(rid))
			return rpc.WorkflowID(benchTopic, "ping", benchHost, rid), err
		}, b.rawCaller},
		{"call", func(i int) (string, error) {
			rid := uuid.NewString()
			err := b.remote.Call(ctx, benchTopic, "ping", pingRequest{Seq: i}, nil, rpc.ToHost(benchHost), rpc.RequestID(rid))
			return rpc.WorkflowID(benchTopic, "ping", benchHost, rid), err
		}, b.rawCaller},
	}
	if *only != "" {
		for _, k := range kinds {
			if k.name == *only {
				kinds = kinds[:0]
				kinds = append(kinds, k)
				break
			}
		}
	}
	if *prof != "" {
		f, err := os.Create(*prof)
		if err != nil {
			return err
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if *only == "tput" {
		header(os.Stdout, "Breakdown: throughput with 16 in flight", "server: "+so.describe())
		fmt.Println("| kind | calls/s | p50 ms | server CPU | bench process CPU |")
		fmt.Println("|---|---|---|---|---|")
		for r := 0; r < 2; r++ {
			for _, k := range []struct {
				name string
				o    op
			}{
				{"raw-la", rawExec(b.rawCaller, "raw.h1", false, rawCall{Local: true})},
				{"raw-la-ver", rawExec(b.rawCaller, "raw.h1", false, rawCall{Local: true, Versioned: true})},
				{"call", b.call(b.remote)},
			} {
				cpu, self := procCPU(b.srv.pid()), procCPU(os.Getpid())
				rate, l, err := throughput(ctx, k.o, 16, 8*time.Second)
				if err != nil {
					return err
				}
				fmt.Printf("| %s | %.1f | %s | %.0f%% | %.0f%% |\n", k.name, rate, ms(l.summary().p50),
					100*float64(procCPU(b.srv.pid())-cpu)/float64(8*time.Second), 100*float64(procCPU(os.Getpid())-self)/float64(8*time.Second))
			}
		}
		return nil
	}
	ids := map[string][]string{}
	total := map[string]*latencies{}
	for i := 0; i < *n; i++ {
		for _, k := range kinds {
			t := time.Now()
			id, err := k.do(i)
			if err != nil {
				return err
			}
			if total[k.name] == nil {
				total[k.name] = &latencies{}
			}
			total[k.name].add(time.Since(t))
			ids[k.name] = append(ids[k.name], id)
		}
	}
	header(os.Stdout, "Breakdown: where the time of a call goes", "server: "+so.describe(),
		fmt.Sprintf("%d calls of each kind, interleaved one by one; times from each run's history events (p50)", *n))
	fmt.Println("| kind | history events | client p50 ms | start to first workflow task started | workflow task started to completed | completed to closed | server: start to closed |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, k := range kinds {
		disp, work, done, all := &latencies{}, &latencies{}, &latencies{}, &latencies{}
		nev := 0
		for _, id := range ids[k.name] {
			it := k.c.GetWorkflowHistory(ctx, id, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
			var started, wftStarted, wftDone, closed time.Time
			cnt := 0
			for it.HasNext() {
				e, err := it.Next()
				if err != nil {
					return err
				}
				cnt++
				ts := e.GetEventTime().AsTime()
				switch e.GetEventType() {
				case enums.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
					started = ts
				case enums.EVENT_TYPE_WORKFLOW_TASK_STARTED:
					if wftStarted.IsZero() {
						wftStarted = ts
					}
				case enums.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
					if wftDone.IsZero() {
						wftDone = ts
					}
				case enums.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
					closed = ts
				}
			}
			nev = cnt
			disp.add(wftStarted.Sub(started))
			work.add(wftDone.Sub(wftStarted))
			done.add(closed.Sub(wftDone))
			all.add(closed.Sub(started))
		}
		t := total[k.name].summary()
		fmt.Printf("| %s | %d | %s | %s | %s | %s | %s |\n",
			k.name, nev, ms(t.p50), ms(disp.summary().p50), ms(work.summary().p50), ms(done.summary().p50), ms(all.summary().p50))
	}
	return nil
}
