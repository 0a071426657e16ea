package policy

import (
	"strings"
	"testing"

	"github.com/novaflow/novaflow/managers"
)

func TestCheckPossible(t *testing.T) {
	p, err := Parse([]byte(`
"compute:reboot_instance": "rule:admin or user_id:%(user_id)s"
"compute:stop_instance": "role:member and not project_id:%(project_id)s"
"compute:start_instance": "project_id:'ops'"
"compute:terminate_instance": "!"
"compute:get_instance_info": "not @"
"compute:attach_volume": "role:%(role)s"
"compute:detach_volume": "not (role:member or project_id:%(project_id)s)"
`))
	if err != nil {
		t.Fatal(err)
	}
	member := Credentials{UserID: "alice", ProjectID: "a", Roles: []string{"member"}}
	reader := Credentials{UserID: "rita", ProjectID: "a", Roles: []string{"reader"}}
	noProject := Credentials{UserID: "nobody", Roles: []string{"member"}}
	admin := Credentials{UserID: "root", ProjectID: "ops", Roles: []string{"admin"}}
	service := Credentials{Subject: "svc", Roles: []string{"service"}}
	for _, tc := range []struct {
		rule  string
		creds Credentials
		want  bool
	}{
		{"admin_or_service", member, false},
		{"admin_or_service", admin, true},
		{"admin_or_service", service, true},
		{"project_member", member, true},     // a project A owns could pass
		{"project_member", reader, false},    // no role member: no object passes
		{"project_member", noProject, false}, // an empty project never matches
		{"project_reader", reader, true},
		{"project_member", service, true},
		{FrameworkRule, admin, false},
		{"compute:reboot_instance", member, true}, // the creator of some instance
		{"compute:reboot_instance", Credentials{Roles: []string{"member"}}, false},
		{"compute:stop_instance", member, true}, // another project's object
		{"compute:stop_instance", reader, false},
		{"compute:start_instance", member, false}, // a literal is known
		{"compute:start_instance", admin, true},
		{"compute:terminate_instance", admin, false},
		{"compute:get_instance_info", admin, false},
		{"compute:attach_volume", member, true}, // a role named by the target
		{"compute:detach_volume", member, false},
		{"compute:detach_volume", reader, true},
		{"no_such_rule", admin, false},
	} {
		d := p.CheckPossible(tc.rule, tc.creds)
		if d.Allowed != tc.want {
			t.Errorf("CheckPossible(%s) for %+v: %v, want %v", tc.rule, tc.creds, d.Allowed, tc.want)
		}
		// Possible never refuses what Check allows on some target.
		for _, target := range []map[string]string{nil, {"project_id": tc.creds.ProjectID, "user_id": tc.creds.UserID, "role": "member"}, {"project_id": "zz", "user_id": "zz"}} {
			if p.Check(tc.rule, tc.creds, target).Allowed && !d.Allowed {
				t.Errorf("%s for %+v: Check allows target %v, CheckPossible refuses", tc.rule, tc.creds, target)
			}
		}
	}
}

func TestMethodPossible(t *testing.T) {
	p := Default()
	member := Credentials{UserID: "bob", ProjectID: "b", Roles: []string{"member"}}
	describe := managers.Method{Name: "describe_host"}.WithAccess(managers.AccessAdmin)
	d := p.MethodPossible("compute", describe, member)
	if d.Allowed || d.Rule != "compute:describe_host" || d.Text != "rule:admin_or_service" {
		t.Fatalf("describe_host for a member: %+v", d)
	}
	if err := d.Err(member); err == nil || !strings.Contains(err.Error(), `rule "compute:describe_host" (rule:admin_or_service)`) {
		t.Fatalf("the refusal does not name the rule: %v", err)
	}
	stop := managers.Method{Name: "stop_instance", Object: "instance_uuid"}
	if d := p.MethodPossible("compute", stop, member); !d.Allowed || d.Text != "rule:project_member" {
		t.Fatalf("stop_instance for a member: %+v (the owner check is the worker's)", d)
	}
	file, err := Parse([]byte(`"compute:stop_instance": "rule:admin"`))
	if err != nil {
		t.Fatal(err)
	}
	if d := file.MethodPossible("compute", stop, member); d.Allowed || d.Text != "rule:admin" {
		t.Fatalf("a file's rule for stop_instance: %+v", d)
	}
}
