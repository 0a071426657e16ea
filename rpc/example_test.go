package rpc_test

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/novaflow/novaflow/rpc"
)

// Upgrade levels are read per topic from NOVAFLOW_UPGRADE_LEVELS_<TOPIC>;
// the runtime reads them for every registered topic and hands them to
// managers, and rpc.ForManager applies them.
func ExampleLoadUpgradeLevels() {
	env := map[string]string{
		"NOVAFLOW_UPGRADE_LEVELS_COMPUTE": "1.2",
		"NOVAFLOW_UPGRADE_LEVELS_VOLUME":  "auto",
	}
	levels, err := rpc.LoadUpgradeLevels(func(k string) string { return env[k] }, "compute", "scheduler", "volume")
	fmt.Println(levels, err)

	_, err = rpc.LoadUpgradeLevels(func(string) string { return "latest" }, "compute")
	fmt.Println(err)
	// Output:
	// map[compute:1.2 volume:auto] <nil>
	// NOVAFLOW_UPGRADE_LEVELS_COMPUTE: "latest": want a version major.minor or "auto"
}

// Every call is a workflow execution whose ID says what it is; the same
// request ID is the same execution, so a retried request runs once.
func ExampleWorkflowID() {
	fmt.Println(rpc.WorkflowID("volume", "create_volume", "", "req-42"))
	fmt.Println(rpc.WorkflowID("compute", "stop_instance", "node1", "req-43"))
	fmt.Println(rpc.WorkflowID("compute", "get_host_info", "*", "req-44"))
	// Output:
	// volume.create_volume/-/req-42
	// compute.stop_instance/node1/req-43
	// compute.get_host_info/*/req-44
}

// A workflow calls other services with the FromWorkflow functions, which are
// deterministic: the call is an activity of the calling workflow, recorded
// in its history. Register such a workflow with a manager that implements
// managers.WorkflowProvider.
func ExampleCallFromWorkflow() {
	// attachAndReboot is a workflow of a service of your own.
	attachAndReboot := func(ctx workflow.Context, host, instanceUUID, volumeID string) error {
		req := map[string]string{"instance_uuid": instanceUUID, "volume_id": volumeID}
		// Calls from workflows are not routed by their object: name the
		// instance's host. Compute calls the volume service from there.
		var vol struct {
			Status     string `json:"status"`
			Mountpoint string `json:"mountpoint"`
		}
		err := rpc.CallFromWorkflow(ctx, "compute", "attach_volume", req, &vol,
			rpc.ToHost(host), rpc.Timeout(2*time.Minute))
		if err != nil {
			return err // typed errors come back as *managers.Error
		}
		workflow.GetLogger(ctx).Info("attached", "status", vol.Status, "mountpoint", vol.Mountpoint)
		// A cast outlives this workflow: it runs when its target is up.
		_, err = rpc.CastFromWorkflow(ctx, "compute", "reboot_instance",
			map[string]string{"instance_uuid": instanceUUID}, rpc.ToHost(host))
		return err
	}
	_ = attachAndReboot
}
