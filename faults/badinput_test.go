package faults

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/managers/conductor"
)

// badCase is a request that must fail at once: with a non-retryable error of
// type typ naming field, without a second attempt of any activity, a failed
// workflow task, or a row written.
type badCase struct {
	name   string
	topic  string // the method's topic, or "" for a workflow type
	method string // the method, or the workflow type when topic is ""
	input  string
	typ    string
	field  string
	// shell: only through the RPC workflow (`temporal workflow execute
	// --type <topic>.<method>`); direct: only through the method's activity.
	shell, direct bool
	timeout       time.Duration
}

const (
	invalid  = managers.InvalidArgumentType
	notFound = managers.NotFoundType
)

// hugeString is 64 KiB of text: a huge value for any field, in a request
// under managers.MaxRequestLen; oversized is a request over it (and under
// Temporal's payload limit).
var (
	hugeString = strings.Repeat("a", 64<<10)
	oversized  = `{"instance_uuid":"` + strings.Repeat("a", 1<<20) + `"}`
)

// badCases lists the bad requests of every RPC method of the reference
// control plane and of its build workflows. inst is an active instance on
// host.
func badCases(inst, host string) []badCase {
	unknown := uuid.NewString()
	fresh := uuid.NewString()
	var cs []badCase
	add := func(c badCase) { cs = append(cs, c) }

	// compute: every method names an instance.
	for _, m := range []string{"build_and_run_instance", "stop_instance", "start_instance", "reboot_instance", "terminate_instance", "get_instance_info"} {
		for _, c := range []badCase{
			{name: "wrong type", input: `{"instance_uuid":42}`, typ: invalid, field: "instance_uuid"},
			{name: "missing", input: `{}`, typ: invalid, field: "instance_uuid"},
			{name: "null", input: `{"instance_uuid":null}`, typ: invalid, field: "instance_uuid"},
			{name: "unknown field", input: `{"instance_uuid":"` + inst + `","bogus":1}`, typ: invalid, field: "bogus"},
			{name: "not a uuid", input: `{"instance_uuid":"vm-1"}`, typ: invalid, field: "instance_uuid"},
			{name: "urn uuid", input: `{"instance_uuid":"urn:uuid:` + unknown + `"}`, typ: invalid, field: "instance_uuid"},
			{name: "huge", input: `{"instance_uuid":"` + hugeString + `"}`, typ: invalid, field: "instance_uuid"},
			{name: "oversized", input: oversized, typ: invalid, field: ""},
			{name: "array", input: `[1,2]`, typ: invalid, field: ""},
			{name: "string", input: `"x"`, typ: invalid, field: ""},
			{name: "trailing data", input: `{"instance_uuid":"` + inst + `"} {"x":1}`, typ: invalid, field: "", shell: true},
			{name: "unknown instance", input: `{"instance_uuid":"` + unknown + `"}`, typ: notFound},
			{name: "host wrong type", input: `{"instance_uuid":"` + inst + `","host":7}`, typ: invalid, field: "host", shell: true},
			{name: "host not a name", input: `{"instance_uuid":"` + inst + `","host":"a/b c"}`, typ: invalid, field: "host", shell: true},
			{name: "unknown host", input: `{"instance_uuid":"` + inst + `","host":"nohost-` + unknown[:8] + `"}`, typ: managers.TimeoutType, shell: true, timeout: 5 * time.Second},
		} {
			c.topic, c.method = "compute", m
			add(c)
		}
		if m == "get_instance_info" {
			add(badCase{name: "request_id", topic: "compute", method: m, input: `{"instance_uuid":"` + inst + `","request_id":"r"}`, typ: invalid, field: "request_id"})
			continue
		}
		for _, c := range []badCase{
			{name: "request_id wrong type", input: `{"instance_uuid":"` + inst + `","request_id":5}`, typ: invalid, field: "request_id"},
			{name: "request_id NUL", input: `{"instance_uuid":"` + inst + `","request_id":"a\u0000b"}`, typ: invalid, field: "request_id"},
			{name: "request_id huge", input: `{"instance_uuid":"` + inst + `","request_id":"` + hugeString + `"}`, typ: invalid, field: "request_id"},
		} {
			c.topic, c.method = "compute", m
			add(c)
		}
	}
	add(badCase{name: "force wrong type", topic: "compute", method: "stop_instance", input: `{"instance_uuid":"` + inst + `","force":"yes"}`, typ: invalid, field: "force"})
	add(badCase{name: "reboot_type unknown", topic: "compute", method: "reboot_instance", input: `{"instance_uuid":"` + inst + `","reboot_type":"MEDIUM"}`, typ: invalid, field: "reboot_type"})
	add(badCase{name: "reboot_type wrong type", topic: "compute", method: "reboot_instance", input: `{"instance_uuid":"` + inst + `","reboot_type":1}`, typ: invalid, field: "reboot_type"})

	// scheduler.select_destinations
	const flavor = `"flavor":{"vcpus":1,"memory_mb":64,"disk_gb":1}`
	for _, c := range []badCase{
		{name: "missing flavor", input: `{}`, typ: invalid, field: "flavor"},
		{name: "flavor wrong type", input: `{"flavor":"big"}`, typ: invalid, field: "flavor"},
		{name: "negative vcpus", input: `{"flavor":{"vcpus":-1,"memory_mb":64}}`, typ: invalid, field: "flavor.vcpus"},
		{name: "zero memory", input: `{"flavor":{"vcpus":1,"memory_mb":0}}`, typ: invalid, field: "flavor.memory_mb"},
		{name: "negative disk", input: `{"flavor":{"vcpus":1,"memory_mb":64,"disk_gb":-5}}`, typ: invalid, field: "flavor.disk_gb"},
		{name: "vcpus beyond int", input: `{"flavor":{"vcpus":1e400,"memory_mb":64}}`, typ: invalid, field: "flavor.vcpus"},
		{name: "vcpus beyond int32", input: `{"flavor":{"vcpus":4294967296,"memory_mb":64}}`, typ: invalid, field: "flavor.vcpus"},
		{name: "negative count", input: `{` + flavor + `,"num_instances":-1}`, typ: invalid, field: "num_instances"},
		{name: "huge count", input: `{` + flavor + `,"num_instances":100000000}`, typ: invalid, field: "num_instances"},
		{name: "bad uuid", input: `{` + flavor + `,"instance_uuids":["x"]}`, typ: invalid, field: "instance_uuids[0]"},
		{name: "urn uuid", input: `{` + flavor + `,"instance_uuids":["urn:uuid:` + unknown + `"]}`, typ: invalid, field: "instance_uuids[0]"},
		{name: "duplicate uuids", input: `{` + flavor + `,"instance_uuids":["` + unknown + `","` + unknown + `"]}`, typ: invalid, field: "instance_uuids[1]"},
		{name: "unknown instance", input: `{` + flavor + `,"instance_uuids":["` + unknown + `"]}`, typ: notFound},
		{name: "negative attempts", input: `{` + flavor + `,"max_attempts":-1}`, typ: invalid, field: "max_attempts"},
		{name: "ignore_hosts wrong type", input: `{` + flavor + `,"ignore_hosts":"h1"}`, typ: invalid, field: "ignore_hosts"},
		{name: "unknown field", input: `{` + flavor + `,"bogus":true}`, typ: invalid, field: "bogus"},
		{name: "oversized", input: oversized, typ: invalid, field: ""},
	} {
		c.topic, c.method = "scheduler", "select_destinations"
		add(c)
	}

	// conductor.create_instances
	create := func(requestID, flavor, image, instances string) string {
		return `{"request_id":` + requestID + `,"flavor":` + flavor + `,"image":` + image + `,"instances":` + instances + `}`
	}
	const (
		okFlavor = `{"vcpus":1,"memory_mb":64,"disk_gb":1}`
		okImage  = `{"command":["/bin/true"]}`
	)
	okInstances := `[{"uuid":"` + fresh + `","name":"x"}]`
	for _, c := range []badCase{
		{name: "missing all", input: `{}`, typ: invalid, field: "request_id"},
		{name: "oversized", input: oversized, typ: invalid, field: ""},
		{name: "empty request_id", input: create(`""`, okFlavor, okImage, okInstances), typ: invalid, field: "request_id"},
		{name: "request_id NUL", input: create(`"a\u0000"`, okFlavor, okImage, okInstances), typ: invalid, field: "request_id"},
		{name: "request_id huge", input: create(`"`+hugeString+`"`, okFlavor, okImage, okInstances), typ: invalid, field: "request_id"},
		{name: "vcpus beyond int32", input: create(`"r"`, `{"vcpus":4294967296,"memory_mb":64}`, okImage, okInstances), typ: invalid, field: "flavor.vcpus"},
		{name: "memory beyond int32", input: create(`"r"`, `{"vcpus":1,"memory_mb":4294967296}`, okImage, okInstances), typ: invalid, field: "flavor.memory_mb"},
		{name: "flavor name NUL", input: create(`"r"`, `{"name":"\u0000","vcpus":1,"memory_mb":64}`, okImage, okInstances), typ: invalid, field: "flavor.name"},
		{name: "empty command", input: create(`"r"`, okFlavor, `{"command":[]}`, okInstances), typ: invalid, field: "image.command"},
		{name: "empty program", input: create(`"r"`, okFlavor, `{"command":[""]}`, okInstances), typ: invalid, field: "image.command[0]"},
		{name: "command NUL", input: create(`"r"`, okFlavor, `{"command":["/bin/true","a\u0000"]}`, okInstances), typ: invalid, field: "image.command[1]"},
		{name: "env not KEY=value", input: create(`"r"`, okFlavor, `{"command":["/bin/true"],"env":["NOEQ"]}`, okInstances), typ: invalid, field: "image.env[0]"},
		{name: "no instances", input: create(`"r"`, okFlavor, okImage, `[]`), typ: invalid, field: "instances"},
		{name: "instances wrong type", input: create(`"r"`, okFlavor, okImage, `{}`), typ: invalid, field: "instances"},
		{name: "bad uuid", input: create(`"r"`, okFlavor, okImage, `[{"uuid":"x"}]`), typ: invalid, field: "instances[0].uuid"},
		{name: "urn uuid", input: create(`"r"`, okFlavor, okImage, `[{"uuid":"urn:uuid:`+fresh+`"}]`), typ: invalid, field: "instances[0].uuid"},
		{name: "duplicate uuids", input: create(`"r"`, okFlavor, okImage, `[{"uuid":"`+fresh+`"},{"uuid":"`+fresh+`"}]`), typ: invalid, field: "instances[1].uuid"},
		{name: "name NUL", input: create(`"r"`, okFlavor, okImage, `[{"uuid":"`+fresh+`","name":"a\u0000"}]`), typ: invalid, field: "instances[0].name"},
		{name: "name huge", input: create(`"r"`, okFlavor, okImage, `[{"uuid":"`+fresh+`","name":"`+hugeString+`"}]`), typ: invalid, field: "instances[0].name"},
		// The second instance is bad: the first must not be created either.
		{name: "second bad", input: create(`"r"`, okFlavor, okImage, `[{"uuid":"`+fresh+`"},{"uuid":"`+uuid.NewString()+`","name":"\u0000"}]`), typ: invalid, field: "instances[1].name"},
	} {
		c.topic, c.method = "conductor", "create_instances"
		add(c)
	}
	for _, m := range []string{"claim_instance", "release_claim"} {
		for _, c := range []badCase{
			{name: "missing", input: `{}`, typ: invalid, field: "instance_uuid"},
			{name: "bad uuid", input: `{"instance_uuid":"x","dest_host":"` + host + `"}`, typ: invalid, field: "instance_uuid"},
			{name: "urn uuid", input: `{"instance_uuid":"urn:uuid:` + inst + `","dest_host":"` + host + `"}`, typ: invalid, field: "instance_uuid"},
			{name: "empty dest_host", input: `{"instance_uuid":"` + inst + `","dest_host":""}`, typ: invalid, field: "dest_host"},
			{name: "dest_host not a name", input: `{"instance_uuid":"` + inst + `","dest_host":"a\u0000b"}`, typ: invalid, field: "dest_host"},
			{name: "dest_host huge", input: `{"instance_uuid":"` + inst + `","dest_host":"` + hugeString + `"}`, typ: invalid, field: "dest_host"},
			{name: "unknown field", input: `{"instance_uuid":"` + inst + `","dest_host":"` + host + `","host2":1}`, typ: invalid, field: "host2"},
		} {
			c.topic, c.method = "conductor", m
			add(c)
		}
	}
	add(badCase{name: "unknown instance", topic: "conductor", method: "claim_instance", input: `{"instance_uuid":"` + unknown + `","dest_host":"` + host + `"}`, typ: notFound})
	for _, c := range []badCase{
		{name: "missing", input: `{}`, typ: invalid, field: "instance_uuid"},
		{name: "missing request_id", input: `{"instance_uuid":"` + inst + `"}`, typ: invalid, field: "request_id"},
		{name: "request_id NUL", input: `{"instance_uuid":"` + inst + `","request_id":"\u0000"}`, typ: invalid, field: "request_id"},
		{name: "fault NUL", input: `{"instance_uuid":"` + inst + `","request_id":"r","fault":"\u0000"}`, typ: invalid, field: "fault"},
		{name: "fault wrong type", input: `{"instance_uuid":"` + inst + `","request_id":"r","fault":{}}`, typ: invalid, field: "fault"},
		{name: "unknown instance", input: `{"instance_uuid":"` + unknown + `","request_id":"r"}`, typ: notFound},
	} {
		c.topic, c.method = "conductor", "finish_build"
		add(c)
	}

	// The build workflows, as `temporal workflow execute --type conductor.build_instances`.
	build := func(extra string) string {
		return `{"name":"web","flavor":{"vcpus":1,"memory_mb":64,"disk_gb":1},"image":{"command":["/bin/true"]}` + extra + `}`
	}
	for _, c := range []badCase{
		{name: "array", input: `[]`, typ: invalid, field: ""},
		{name: "count wrong type", input: build(`,"count":"2"`), typ: invalid, field: "count"},
		{name: "unknown field", input: build(`,"bogus":1`), typ: invalid, field: "bogus"},
		{name: "negative count", input: build(`,"count":-1`), typ: invalid, field: "count"},
		{name: "huge count", input: build(`,"count":1001`), typ: invalid, field: "count"},
		{name: "missing flavor", input: `{"image":{"command":["/bin/true"]}}`, typ: invalid, field: "flavor.vcpus"},
		{name: "vcpus beyond int32", input: `{"flavor":{"vcpus":4294967296,"memory_mb":64},"image":{"command":["/bin/true"]}}`, typ: invalid, field: "flavor.vcpus"},
		{name: "negative disk", input: `{"flavor":{"vcpus":1,"memory_mb":64,"disk_gb":-1},"image":{"command":["/bin/true"]}}`, typ: invalid, field: "flavor.disk_gb"},
		{name: "missing command", input: `{"flavor":{"vcpus":1,"memory_mb":64}}`, typ: invalid, field: "image.command"},
		{name: "empty program", input: `{"flavor":{"vcpus":1,"memory_mb":64},"image":{"command":[""]}}`, typ: invalid, field: "image.command[0]"},
		{name: "name NUL", input: `{"name":"\u0000","flavor":{"vcpus":1,"memory_mb":64},"image":{"command":["/bin/true"]}}`, typ: invalid, field: "name"},
		{name: "name huge", input: `{"name":"` + hugeString + `","flavor":{"vcpus":1,"memory_mb":64},"image":{"command":["/bin/true"]}}`, typ: invalid, field: "name"},
		{name: "request_id NUL", input: build(`,"request_id":"\u0000"`), typ: invalid, field: "request_id"},
		{name: "bad uuid", input: build(`,"instance_uuids":["x"]`), typ: invalid, field: "instance_uuids[0]"},
		{name: "urn uuid", input: build(`,"instance_uuids":["urn:uuid:` + fresh + `"]`), typ: invalid, field: "instance_uuids[0]"},
		{name: "duplicate uuids", input: build(`,"instance_uuids":["` + fresh + `","` + fresh + `"]`), typ: invalid, field: "instance_uuids[1]"},
		{name: "count and uuids disagree", input: build(`,"count":2,"instance_uuids":["` + fresh + `"]`), typ: invalid, field: "count"},
		{name: "negative attempts", input: build(`,"max_attempts":-1`), typ: invalid, field: "max_attempts"},
		{name: "trailing data", input: build(``) + ` {}`, typ: invalid, field: ""},
		{name: "oversized", input: oversized, typ: invalid, field: ""},
	} {
		c.method = conductor.BuildInstancesName
		add(c)
	}
	for _, c := range []badCase{
		{name: "wrong type", input: `{"uuid":5}`, typ: invalid, field: "uuid"},
		{name: "unknown field", input: `{"uuid":"` + fresh + `","bogus":1}`, typ: invalid, field: "bogus"},
		{name: "bad uuid", input: `{"uuid":"x","request_id":"r","hosts":["` + host + `"]}`, typ: invalid, field: "uuid"},
		{name: "no hosts", input: `{"uuid":"` + fresh + `","request_id":"r","hosts":[]}`, typ: invalid, field: "hosts"},
		{name: "missing request_id", input: `{"uuid":"` + fresh + `","hosts":["` + host + `"]}`, typ: invalid, field: "request_id"},
		{name: "oversized", input: oversized, typ: invalid, field: ""},
	} {
		c.method = conductor.BuildInstanceName
		add(c)
	}
	return cs
}

// TestBadInput sends every bad request of badCases through the RPC workflow
// (as the shell does) and straight to the method's activity (as the build
// workflow does): each fails typed, naming the field, in one attempt, and no
// row is written.
func TestBadInput(t *testing.T) {
	c := newCloud(t, 2)
	res, err := c.build(`{"name":"fixture","flavor":{"vcpus":1,"memory_mb":64,"disk_gb":1},"image":{"command":["/bin/true"]}}`, time.Minute)
	if err != nil {
		t.Fatalf("build the fixture: %v", err)
	}
	inst, host := res.Instances[0].UUID, res.Instances[0].Host
	instances, actions := c.rows()
	start := time.Now()

	t.Run("requests", func(t *testing.T) {
		for _, bc := range badCases(inst, host) {
			paths := []string{"shell", "direct"}
			switch {
			case bc.topic == "": // a workflow: only the shell
				paths = []string{"shell"}
			case bc.shell:
				paths = []string{"shell"}
			case bc.direct:
				paths = []string{"direct"}
			}
			for _, path := range paths {
				name := fmt.Sprintf("%s/%s/%s", path, strings.TrimPrefix(bc.method, "conductor."), bc.name)
				if bc.topic != "" {
					name = fmt.Sprintf("%s/%s.%s/%s", path, bc.topic, bc.method, bc.name)
				}
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					cc := *c
					cc.t = t
					timeout := bc.timeout
					if timeout == 0 {
						timeout = 20 * time.Second
					}
					var id string
					var err error
					switch {
					case path == "direct":
						target := ""
						if bc.topic == "compute" {
							target = host
						}
						id, err = cc.direct(bc.topic, target, bc.method, json.RawMessage(bc.input), timeout)
					case bc.topic == "":
						id, err = cc.execute("conductor", bc.method, timeout, nil, rawJSON(bc.input))
					default:
						id, err = cc.execute(bc.topic, bc.topic+"."+bc.method, timeout, nil, rawJSON(bc.input))
					}
					checkBad(t, &cc, bc, id, err)
				})
			}
		}
	})
	t.Logf("bad requests done in %s", time.Since(start).Round(time.Millisecond))

	if i, a := c.rows(); i != instances || a != actions {
		t.Errorf("bad requests wrote rows: instances %d -> %d, instance_actions %d -> %d", instances, i, actions, a)
	}
	got, err := c.store.Get(t.Context(), inst)
	if err != nil || got.VMState != "active" || got.TaskState != "" {
		t.Errorf("the fixture instance changed: %+v, %v", got, err)
	}
}

func checkBad(t *testing.T, c *cloud, bc badCase, id string, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s succeeded, want %s naming %q", bc.input[:min(len(bc.input), 200)], bc.typ, bc.field)
	}
	e, nonRetryable := typedError(err)
	switch {
	case e == nil:
		t.Errorf("untyped error %v, want %s naming %q", err, bc.typ, bc.field)
	case e.Type != bc.typ || (bc.typ == invalid && e.Field != bc.field):
		t.Errorf("error %s (field %q), want %s naming %q", e, e.Field, bc.typ, bc.field)
	case !nonRetryable:
		t.Errorf("error %s is retryable", e)
	}
	if n, failed := c.attempts(id); n > 1 || failed > 0 {
		t.Errorf("retried: an activity ran %d times, %d workflow tasks failed", n, failed)
	}
}
