package policy

import "github.com/novaflow/novaflow/managers"

// tri is a three-valued truth: a check on a target not known yet is
// unknown (it passes for some targets and fails for others).
type tri int8

const (
	triFalse tri = iota
	triUnknown
	triTrue
)

func triOf(b bool) tri {
	if b {
		return triTrue
	}
	return triFalse
}

// possible evaluates c against rules when the target is not known: a check
// that names a target field (%(project_id)s) is unknown unless the caller's
// side decides it (an empty project_id never matches); and, or and not
// combine as Kleene's logic.
func possible(k check, c Credentials, r map[string]check, d int) tri {
	switch k := k.(type) {
	case constCheck:
		return triOf(bool(k))
	case andCheck:
		out := triTrue
		for _, x := range k {
			out = min(out, possible(x, c, r, d))
		}
		return out
	case orCheck:
		out := triFalse
		for _, x := range k {
			out = max(out, possible(x, c, r, d))
		}
		return out
	case notCheck:
		return triTrue - possible(k.x, c, r, d)
	case ruleCheck:
		x, ok := r[string(k)]
		if !ok || d >= maxDepth {
			return triFalse
		}
		return possible(x, c, r, d+1)
	case roleCheck:
		if hasField(string(k)) {
			return triUnknown
		}
		return triOf(k.eval(c, nil, r, d))
	case genericCheck:
		if c.attr(k.kind) == "" {
			return triFalse
		}
		if hasField(k.match) {
			return triUnknown
		}
		return triOf(k.eval(c, nil, r, d))
	}
	return triFalse
}

func hasField(s string) bool {
	_, ok := expand(s, nil)
	return !ok
}

// CheckPossible decides rule name for c on a target not known yet (a start
// the Temporal frontend sees, before the object's owner is looked up):
// Allowed is false only when no target could make the rule pass
// (rule:admin_or_service for a member), true when one could
// (project_id:%(project_id)s for a caller with a project) or it passes for
// every target. The check on the real target (Check) still decides the
// call. An unknown rule denies.
func (p *Policy) CheckPossible(name string, c Credentials) Decision {
	chk, ok := p.rules[name]
	if !ok {
		return Decision{Rule: name, Text: "(not defined)"}
	}
	return Decision{Rule: name, Text: p.src[name], Allowed: possible(chk, c, p.rules, 0) != triFalse}
}

// MethodPossible is CheckPossible of the rule Method would decide topic's
// method m with: the file's <topic>:<method>, else DefaultRule(m).
func (p *Policy) MethodPossible(topic string, m managers.Method, c Credentials) Decision {
	name := MethodRule(topic, m.Name)
	if _, ok := p.rules[name]; ok {
		return p.CheckPossible(name, c)
	}
	text := DefaultRule(m)
	chk, err := parse(text)
	if err != nil { // DefaultRule returns constants
		return Decision{Rule: name, Text: text}
	}
	return Decision{Rule: name, Text: text, Allowed: possible(chk, c, p.rules, 0) != triFalse}
}
