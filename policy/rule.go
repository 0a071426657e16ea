package policy

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// check is one compiled rule: true when creds may act on target. rules
// resolves rule:NAME references at evaluation, so a file may override a
// rule that others name.
type check interface {
	eval(c Credentials, target map[string]string, rules map[string]check, depth int) bool
}

// maxDepth bounds rule:NAME indirections, so a cycle fails closed instead of
// recursing forever (Load also refuses cycles).
const maxDepth = 32

type constCheck bool

func (k constCheck) eval(Credentials, map[string]string, map[string]check, int) bool { return bool(k) }

type andCheck []check

func (k andCheck) eval(c Credentials, t map[string]string, r map[string]check, d int) bool {
	for _, x := range k {
		if !x.eval(c, t, r, d) {
			return false
		}
	}
	return true
}

type orCheck []check

func (k orCheck) eval(c Credentials, t map[string]string, r map[string]check, d int) bool {
	for _, x := range k {
		if x.eval(c, t, r, d) {
			return true
		}
	}
	return false
}

type notCheck struct{ x check }

func (k notCheck) eval(c Credentials, t map[string]string, r map[string]check, d int) bool {
	return !k.x.eval(c, t, r, d)
}

type ruleCheck string

func (k ruleCheck) eval(c Credentials, t map[string]string, r map[string]check, d int) bool {
	x, ok := r[string(k)]
	if !ok || d >= maxDepth {
		return false
	}
	return x.eval(c, t, r, d+1)
}

type roleCheck string

func (k roleCheck) eval(c Credentials, t map[string]string, _ map[string]check, _ int) bool {
	want, ok := expand(string(k), t)
	if !ok {
		return false
	}
	return slices.ContainsFunc(c.Roles, func(r string) bool { return strings.EqualFold(r, want) })
}

// genericCheck is kind:match, oslo.policy's GenericCheck: the caller's
// attribute kind (project_id, user_id) equals match, a literal or a
// %(field)s of the target. An empty attribute never matches.
type genericCheck struct{ kind, match string }

func (k genericCheck) eval(c Credentials, t map[string]string, _ map[string]check, _ int) bool {
	have := c.attr(k.kind)
	want, ok := expand(k.match, t)
	return ok && have != "" && have == want
}

// expand substitutes %(name)s with target[name]; false when the target has
// no such field (or an empty one), so the check fails closed.
func expand(s string, target map[string]string) (string, bool) {
	var b strings.Builder
	for {
		i := strings.Index(s, "%(")
		if i < 0 {
			b.WriteString(s)
			return b.String(), true
		}
		j := strings.Index(s[i:], ")s")
		if j < 0 {
			b.WriteString(s)
			return b.String(), true
		}
		v := target[s[i+2:i+j]]
		if v == "" {
			return "", false
		}
		b.WriteString(s[:i])
		b.WriteString(v)
		s = s[i+j+2:]
	}
}

// parse compiles a rule in oslo.policy's syntax: checks role:R, rule:NAME,
// KIND:MATCH (MATCH a literal or %(field)s), "@" (always), "!" (never),
// combined with and, or, not and parentheses; "" allows, as in oslo.
func parse(s string) (check, error) {
	toks, err := tokenize(s)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return constCheck(true), nil
	}
	p := &parser{toks: toks}
	c, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.i != len(p.toks) {
		return nil, fmt.Errorf("unexpected %q at the end", p.toks[p.i])
	}
	return c, nil
}

func tokenize(s string) ([]string, error) {
	var toks []string
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case unicode.IsSpace(rune(c)):
			i++
		case c == '(' || c == ')':
			toks = append(toks, string(c))
			i++
		default:
			j := i
			for j < len(s) && !unicode.IsSpace(rune(s[j])) && s[j] != '(' && s[j] != ')' {
				if strings.HasPrefix(s[j:], "%(") {
					end := strings.Index(s[j:], ")s")
					if end < 0 {
						return nil, fmt.Errorf("%q: %%( without )s", s[i:])
					}
					j += end + 2
					continue
				}
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		}
	}
	return toks, nil
}

type parser struct {
	toks []string
	i    int
}

func (p *parser) peek() string {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	return ""
}

func (p *parser) or() (check, error) {
	first, err := p.and()
	if err != nil {
		return nil, err
	}
	out := orCheck{first}
	for strings.EqualFold(p.peek(), "or") {
		p.i++
		next, err := p.and()
		if err != nil {
			return nil, err
		}
		out = append(out, next)
	}
	if len(out) == 1 {
		return first, nil
	}
	return out, nil
}

func (p *parser) and() (check, error) {
	first, err := p.not()
	if err != nil {
		return nil, err
	}
	out := andCheck{first}
	for strings.EqualFold(p.peek(), "and") {
		p.i++
		next, err := p.not()
		if err != nil {
			return nil, err
		}
		out = append(out, next)
	}
	if len(out) == 1 {
		return first, nil
	}
	return out, nil
}

func (p *parser) not() (check, error) {
	if strings.EqualFold(p.peek(), "not") {
		p.i++
		x, err := p.not()
		if err != nil {
			return nil, err
		}
		return notCheck{x}, nil
	}
	return p.atom()
}

func (p *parser) atom() (check, error) {
	t := p.peek()
	switch {
	case t == "":
		return nil, fmt.Errorf("a check is missing at the end")
	case t == "(":
		p.i++
		x, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.peek() != ")" {
			return nil, fmt.Errorf("missing )")
		}
		p.i++
		return x, nil
	case t == ")":
		return nil, fmt.Errorf("unexpected )")
	case t == "@":
		p.i++
		return constCheck(true), nil
	case t == "!":
		p.i++
		return constCheck(false), nil
	case strings.EqualFold(t, "and"), strings.EqualFold(t, "or"):
		return nil, fmt.Errorf("%q needs a check before it", t)
	}
	p.i++
	kind, match, ok := strings.Cut(t, ":")
	if !ok || kind == "" || match == "" {
		return nil, fmt.Errorf("%q is not a check: want role:R, rule:NAME, KIND:VALUE, @ or !", t)
	}
	switch kind {
	case "role":
		return roleCheck(match), nil
	case "rule":
		return ruleCheck(match), nil
	}
	if !knownAttr(kind) {
		return nil, fmt.Errorf("%q: unknown credential %q: want one of project_id, user_id", t, kind)
	}
	return genericCheck{kind: kind, match: strings.Trim(match, `'"`)}, nil
}
