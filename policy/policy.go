// Package policy decides who may call which manager method, in the spirit of
// OpenStack's oslo.policy: a file of named rules, one per method
// ("compute:reboot_instance": "rule:project_member"), written in a small
// language of checks (role:admin, project_id:%(project_id)s, rule:NAME, @,
// !) combined with and, or, not and parentheses.
//
// A method the file does not name gets a default derived from what it does
// (managers.Method.Access): read methods for members of any project (of the
// owning project when the method names an object), mutations for members of
// the owning project, service administration for admins and services, and
// the framework's own runs (FrameworkRule) for service identities only.
// A denied call fails with a *managers.Error of type PolicyDenied that names
// the rule; it is never retried.
//
// The policy is enforced by package auth, which verifies the caller's token
// and builds its Credentials; see docs/security.md.
package policy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/novaflow/novaflow/managers"
)

// DeniedType is the managers.Error type of a call the policy refuses.
const DeniedType = "PolicyDenied"

// UnauthenticatedType is the managers.Error type of a call that carries no
// valid token while authorization is on.
const UnauthenticatedType = "Unauthenticated"

// FrameworkRule is the rule of the runs the framework makes itself (status
// reports, periodic tasks): service identities only by default.
const FrameworkRule = "novaflow:framework"

// AdminRule says whether credentials see every project's objects, as
// oslo.policy's context_is_admin does (Credentials.Admin).
const AdminRule = "context_is_admin"

// Credentials are who calls: the claims of a verified token.
type Credentials struct {
	// Subject is the token's sub claim.
	Subject string
	// UserID is the user (default claim: sub).
	UserID string
	// ProjectID is the project the token is scoped to (default claim:
	// project_id).
	ProjectID string
	// Roles are the caller's roles in that project (default claim: roles).
	Roles []string
	// Admin says AdminRule holds for these credentials: list and show
	// methods then see every project's objects.
	Admin bool
}

func (c Credentials) attr(kind string) string {
	switch kind {
	case "project_id":
		return c.ProjectID
	case "user_id":
		return c.UserID
	}
	return ""
}

func knownAttr(kind string) bool { return kind == "project_id" || kind == "user_id" }

// HasRole reports whether the credentials carry role (case-insensitive).
func (c Credentials) HasRole(role string) bool {
	return slices.ContainsFunc(c.Roles, func(r string) bool { return strings.EqualFold(r, role) })
}

type credsKey struct{}

// WithCredentials returns ctx carrying c: the enforcement hands them to the
// method it allowed, which records ownership and filters lists with them.
func WithCredentials(ctx context.Context, c Credentials) context.Context {
	return context.WithValue(ctx, credsKey{}, c)
}

// CredentialsFrom returns the caller's credentials, and false when the call
// carries none (authorization is off, or an internal call).
func CredentialsFrom(ctx context.Context) (Credentials, bool) {
	c, ok := ctx.Value(credsKey{}).(Credentials)
	return c, ok
}

// Defaults are the rules every policy starts from; a file may override any.
var Defaults = map[string]string{
	"admin":            "role:admin",
	"service":          "role:service",
	"admin_or_service": "rule:admin or rule:service",
	AdminRule:          "rule:admin_or_service",
	"reader":           "rule:admin_or_service or role:member or role:reader",
	"member":           "rule:admin_or_service or role:member",
	"project_reader":   "rule:admin_or_service or ((role:member or role:reader) and project_id:%(project_id)s)",
	"project_member":   "rule:admin_or_service or (role:member and project_id:%(project_id)s)",
	FrameworkRule:      "rule:service",
}

// Policy is a compiled set of rules. It is safe for concurrent use.
type Policy struct {
	src   map[string]string
	rules map[string]check
}

// Default returns the policy of the Defaults alone.
func Default() *Policy {
	p, err := compile(nil)
	if err != nil {
		panic(err) // the defaults are constants
	}
	return p
}

// Load reads a policy file: a YAML (or JSON) mapping of rule names to rules,
// merged over Defaults. A rule that does not parse, names an unknown rule or
// takes part in a cycle fails Load, naming it.
func Load(path string) (*Policy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy file: %w", err)
	}
	p, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("policy file %s: %w", path, err)
	}
	return p, nil
}

// Parse is Load of a file's content.
func Parse(data []byte) (*Policy, error) {
	var m map[string]string
	if err := yaml.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("want a mapping of rule names to rule strings: %w", err)
	}
	return compile(m)
}

func compile(file map[string]string) (*Policy, error) {
	src := make(map[string]string, len(Defaults)+len(file))
	for k, v := range Defaults {
		src[k] = v
	}
	for k, v := range file {
		if strings.TrimSpace(k) == "" {
			return nil, errors.New("a rule has an empty name")
		}
		src[k] = v
	}
	p := &Policy{src: src, rules: make(map[string]check, len(src))}
	for _, name := range p.Names() {
		c, err := parse(src[name])
		if err != nil {
			return nil, fmt.Errorf("rule %q: %q: %w", name, src[name], err)
		}
		p.rules[name] = c
	}
	for _, name := range p.Names() {
		if err := p.checkRefs(name, nil); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// checkRefs fails when rule name refers to an unknown rule or, through its
// references, to itself.
func (p *Policy) checkRefs(name string, path []string) error {
	if slices.Contains(path, name) {
		return fmt.Errorf("rule %q: cycle %s", path[0], strings.Join(append(path, name), " -> "))
	}
	var err error
	walk(p.rules[name], func(ref string) {
		if err != nil {
			return
		}
		if _, ok := p.rules[ref]; !ok {
			err = fmt.Errorf("rule %q: %q names rule %q, which is not defined", name, p.src[name], ref)
			return
		}
		err = p.checkRefs(ref, append(path, name))
	})
	return err
}

func walk(c check, f func(ref string)) {
	switch k := c.(type) {
	case ruleCheck:
		f(string(k))
	case andCheck:
		for _, x := range k {
			walk(x, f)
		}
	case orCheck:
		for _, x := range k {
			walk(x, f)
		}
	case notCheck:
		walk(k.x, f)
	}
}

// Names lists the policy's rule names, sorted.
func (p *Policy) Names() []string {
	names := make([]string, 0, len(p.src))
	for k := range p.src {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// Rule returns the text of rule name and whether the policy has it.
func (p *Policy) Rule(name string) (string, bool) {
	s, ok := p.src[name]
	return s, ok
}

// MethodRule is the name of a method's rule: <topic>:<method>.
func MethodRule(topic, method string) string { return topic + ":" + method }

// DefaultRule is the rule a method gets when the file does not name it,
// from its Access and whether it acts on an object (Method.Object).
func DefaultRule(m managers.Method) string {
	switch m.Access {
	case managers.AccessRead:
		if m.Object != "" {
			return "rule:project_reader"
		}
		return "rule:reader"
	case managers.AccessAdmin:
		return "rule:admin_or_service"
	default:
		if m.Object != "" {
			return "rule:project_member"
		}
		return "rule:member"
	}
}

// Decision is the outcome of one check.
type Decision struct {
	// Rule is the name of the rule that decided.
	Rule string
	// Text is the rule as written.
	Text string
	// Allowed says whether it allowed the call.
	Allowed bool
}

// Err is the error of a denied decision: a PolicyDenied *managers.Error
// naming the rule; nil when allowed.
func (d Decision) Err(c Credentials) error {
	if d.Allowed {
		return nil
	}
	who := c.UserID
	if who == "" {
		who = c.Subject
	}
	return &managers.Error{Type: DeniedType, Message: fmt.Sprintf(
		"rule %q (%s) does not allow user %q of project %q with roles [%s]",
		d.Rule, d.Text, who, c.ProjectID, strings.Join(c.Roles, ","))}
}

// Method decides a call of topic's method m by c on target: the file's rule
// <topic>:<method> when it has one, else DefaultRule(m).
func (p *Policy) Method(topic string, m managers.Method, c Credentials, target map[string]string) Decision {
	name := MethodRule(topic, m.Name)
	if _, ok := p.rules[name]; ok {
		return p.Check(name, c, target)
	}
	text := DefaultRule(m)
	chk, err := parse(text)
	if err != nil { // DefaultRule returns constants
		return Decision{Rule: name, Text: text}
	}
	return Decision{Rule: name, Text: text, Allowed: chk.eval(c, target, p.rules, 0)}
}

// Check decides rule name for c on target; an unknown rule denies.
func (p *Policy) Check(name string, c Credentials, target map[string]string) Decision {
	chk, ok := p.rules[name]
	if !ok {
		return Decision{Rule: name, Text: "(not defined)"}
	}
	return Decision{Rule: name, Text: p.src[name], Allowed: chk.eval(c, target, p.rules, 0)}
}
