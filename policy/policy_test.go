package policy

import (
	"errors"
	"strings"
	"testing"

	"github.com/novaflow/novaflow/managers"
)

func TestRules(t *testing.T) {
	p, err := Parse([]byte(`
owner_or_admin: "rule:admin or project_id:%(project_id)s"
"compute:reboot_instance": "rule:owner_or_admin"
"compute:stop_instance": "role:member and not role:suspended"
"compute:start_instance": "(role:a or role:b) and user_id:%(user_id)s"
"compute:terminate_instance": "!"
"compute:get_instance_info": "@"
"compute:attach_volume": ""
"compute:detach_volume": "project_id:'p1'"
`))
	if err != nil {
		t.Fatal(err)
	}
	alice := Credentials{UserID: "alice", ProjectID: "p1", Roles: []string{"member"}}
	bob := Credentials{UserID: "bob", ProjectID: "p2", Roles: []string{"Member", "suspended"}}
	root := Credentials{UserID: "root", ProjectID: "p9", Roles: []string{"ADMIN"}}
	own := map[string]string{"project_id": "p1", "user_id": "alice"}
	for _, tc := range []struct {
		rule   string
		creds  Credentials
		target map[string]string
		want   bool
	}{
		{"compute:reboot_instance", alice, own, true},
		{"compute:reboot_instance", bob, own, false},
		{"compute:reboot_instance", root, own, true},
		{"compute:reboot_instance", alice, map[string]string{}, false}, // no project: fail closed
		{"compute:stop_instance", alice, own, true},
		{"compute:stop_instance", bob, own, false},
		{"compute:start_instance", Credentials{UserID: "alice", Roles: []string{"b"}}, own, true},
		{"compute:start_instance", Credentials{UserID: "bob", Roles: []string{"b"}}, own, false},
		{"compute:terminate_instance", root, own, false},
		{"compute:get_instance_info", Credentials{}, nil, true},
		{"compute:attach_volume", Credentials{}, nil, true},
		{"compute:detach_volume", alice, nil, true},
		{"compute:detach_volume", bob, nil, false},
		{"no_such_rule", root, own, false},
		{"project_member", Credentials{ProjectID: "p1", Roles: []string{"reader"}}, own, false},
		{"project_reader", Credentials{ProjectID: "p1", Roles: []string{"reader"}}, own, true},
		{FrameworkRule, root, nil, false},
		{FrameworkRule, Credentials{Roles: []string{"service"}}, nil, true},
		{"project_member", Credentials{ProjectID: "", Roles: []string{"member"}}, map[string]string{"project_id": ""}, false},
	} {
		if got := p.Check(tc.rule, tc.creds, tc.target); got.Allowed != tc.want {
			t.Errorf("%s for %+v on %v: %v, want %v", tc.rule, tc.creds, tc.target, got.Allowed, tc.want)
		}
	}
}

func TestBadPolicies(t *testing.T) {
	for src, want := range map[string]string{
		`a: "rule:b"`:                  `names rule "b", which is not defined`,
		`{a: "rule:b", b: "rule:a"}`:   "cycle",
		`a: "role:x and"`:              "missing at the end",
		`a: "(role:x"`:                 "missing )",
		`a: "role:x)"`:                 `unexpected ")"`,
		`a: "tenant:x"`:                `unknown credential "tenant"`,
		`a: "justaword"`:               "is not a check",
		`a: "or role:x"`:               "needs a check before it",
		`a: "project_id:%(project_id"`: "without )s",
		`[1, 2]`:                       "mapping of rule names",
		`"": "@"`:                      "empty name",
	} {
		_, err := Parse([]byte(src))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%s) = %v, want an error containing %q", src, err, want)
		}
	}
}

func TestDefaults(t *testing.T) {
	p := Default()
	read := managers.Method{Name: "get_instance_info", Object: "instance_uuid", Access: managers.AccessRead}
	list := managers.Method{Name: "list_volumes", Access: managers.AccessRead}
	mutate := managers.Method{Name: "reboot_instance", Object: "instance_uuid"}
	create := managers.Method{Name: "create_volume"}
	admin := managers.Method{Name: "describe_host", Access: managers.AccessAdmin}
	memberA := Credentials{UserID: "u", ProjectID: "A", Roles: []string{"member"}}
	readerA := Credentials{UserID: "r", ProjectID: "A", Roles: []string{"reader"}}
	adminB := Credentials{UserID: "adm", ProjectID: "B", Roles: []string{"admin"}}
	service := Credentials{Subject: "novaflow-service", Roles: []string{"service"}}
	inA := map[string]string{"project_id": "A"}
	inB := map[string]string{"project_id": "B"}
	for _, tc := range []struct {
		m      managers.Method
		c      Credentials
		target map[string]string
		want   bool
	}{
		{read, memberA, inA, true}, {read, memberA, inB, false}, {read, readerA, inA, true},
		{list, readerA, nil, true}, {list, Credentials{ProjectID: "A"}, nil, false},
		{mutate, memberA, inA, true}, {mutate, memberA, inB, false}, {mutate, readerA, inA, false},
		{mutate, adminB, inA, true}, {mutate, service, inA, true},
		{create, memberA, nil, true}, {create, readerA, nil, false},
		{admin, memberA, nil, false}, {admin, adminB, nil, true}, {admin, service, nil, true},
	} {
		d := p.Method("compute", tc.m, tc.c, tc.target)
		if d.Allowed != tc.want {
			t.Errorf("%s (%s) for %+v on %v: %v, want %v", tc.m.Name, d.Text, tc.c, tc.target, d.Allowed, tc.want)
		}
		if d.Rule != "compute:"+tc.m.Name {
			t.Errorf("decision names rule %q", d.Rule)
		}
	}
	// A file's rule for the method replaces the default.
	p2, err := Parse([]byte(`"compute:reboot_instance": "rule:admin"`))
	if err != nil {
		t.Fatal(err)
	}
	if d := p2.Method("compute", mutate, memberA, inA); d.Allowed || d.Text != "rule:admin" {
		t.Errorf("file rule not used: %+v", d)
	}
}

func TestDeniedError(t *testing.T) {
	d := Default().Method("compute", managers.Method{Name: "reboot_instance", Object: "instance_uuid"},
		Credentials{UserID: "u", ProjectID: "A", Roles: []string{"member"}}, map[string]string{"project_id": "B"})
	err := d.Err(Credentials{UserID: "u", ProjectID: "A", Roles: []string{"member"}})
	if !errors.Is(err, &managers.Error{Type: DeniedType}) {
		t.Fatalf("err = %v, want PolicyDenied", err)
	}
	for _, want := range []string{`"compute:reboot_instance"`, "rule:project_member", `user "u"`, `project "A"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v does not say %s", err, want)
		}
	}
	if e, _ := managers.AsError(err); e.Retryable() {
		t.Error("PolicyDenied is retryable")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range Defaults {
		f.Add(s)
	}
	f.Add("not (role:a and (project_id:%(x)s or !))")
	f.Fuzz(func(t *testing.T, rule string) {
		c, err := parse(rule)
		if err == nil {
			c.eval(Credentials{ProjectID: "p", Roles: []string{"a"}}, map[string]string{"x": "p"}, nil, 0)
		}
	})
}

// BenchmarkMethod is a default rule's decision (project_member, with an
// owner match).
func BenchmarkMethod(b *testing.B) {
	p := Default()
	m := managers.Method{Name: "reboot_instance", Object: "instance_uuid"}
	c := Credentials{UserID: "u", ProjectID: "A", Roles: []string{"member"}}
	target := map[string]string{"project_id": "A", "instance_uuid": "x"}
	b.ReportAllocs()
	for b.Loop() {
		if !p.Method("compute", m, c, target).Allowed {
			b.Fatal("denied")
		}
	}
}
