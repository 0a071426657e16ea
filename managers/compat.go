package managers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// Compatible changes within a major version, modelled on nova's versioned
// RPC arguments and obj_make_compatible (docs/rpc.md, "Adding a field or a
// method"):
//
//   - a request field added in a later minor of its method carries the
//     struct tag `since:"major.minor"`, and is optional (never
//     `required:"true"`): an older caller does not send it, and the method
//     gets its zero value;
//   - a call sent at an older version (the caller's upgrade level is below
//     the version it speaks) goes out in the form that version understands
//     (Backport): fields newer than it are dropped when they are zero, and
//     refused at the caller, with an UnsupportedVersion error naming the
//     method, the field and both versions, when they are set, unless the
//     request type's MakeCompatible rewrites them first;
//   - a method added in a later minor says so with WithSince: a caller
//     capped below it is refused at the caller.

// SinceTag is the struct tag of a request field added in a later minor
// version of its method: `json:"shutdown_timeout,omitempty" since:"1.1"`.
const SinceTag = "since"

// CompatibleMaker is implemented by a request type that can rewrite itself
// into the form an older version of its method understands, as nova's
// obj_make_compatible: MakeCompatible is called on a copy of the request
// before a call at an older version is sent, and may move a newer field's
// value into older ones, or clear it. A field newer than version that is
// still set afterwards is refused at the caller. MakeCompatible must not
// modify slices or maps the request shares with the caller in place (set
// the fields instead), and, when the call is made from workflow code, must
// be deterministic. An error it returns fails the call at the caller (a
// *Error keeps its type; any other error becomes UnsupportedVersion).
type CompatibleMaker interface {
	MakeCompatible(version string) error
}

// WithSince returns m declared as added in version since, a minor of its
// major not above its version: callers whose upgrade level is below since
// cannot send it (older hosts do not have it) and fail at the caller with
// UnsupportedVersion. Without it a method exists since minor 0 of its major.
// It panics on a version that is not of the method's major or is above its
// version (a programming error, found at registration).
func (m Method) WithSince(since string) Method {
	if ok, err := Compatible(m.Version, since); err != nil || !ok {
		panic(fmt.Sprintf("managers: method %s %s: WithSince(%q): want a version of major %s not above %s", m.Name, m.Version, since, majorOf(m.Version), m.Version))
	}
	m.Since = since
	return m
}

// Added is the version that introduced m: its Since, else minor 0 of its
// major.
func (m Method) Added() string {
	if m.Since != "" {
		return m.Since
	}
	return majorOf(m.Version) + ".0"
}

// RequestType is the Go type of m's request (a struct); nil for a Method not
// declared with NewMethod.
func (m Method) RequestType() reflect.Type { return m.request }

func majorOf(v string) string {
	major, _, _ := strings.Cut(v, ".")
	return major
}

// checkSince panics when a `since` tag of rt (or of a struct it contains) is
// not a version of the method's major up to its version, or is on a
// required field: both programming errors.
func checkSince(method, version string, rt reflect.Type) {
	walkSince(rt, "", map[reflect.Type]bool{}, func(path, since string, f reflect.StructField) {
		if ok, err := Compatible(version, since); err != nil || !ok {
			panic(fmt.Sprintf("managers: method %s %s: field %s: since %q: want a version of major %s not above %s", method, version, path, since, majorOf(version), version))
		}
		if f.Tag.Get("required") == "true" {
			panic(fmt.Sprintf("managers: method %s: field %s has since:%q and required:\"true\": a field added in a later minor must be optional", method, path, since))
		}
	})
}

// walkSince calls fn for each field of rt with a since tag, through nested
// structs, pointers, slices and arrays, with its JSON path.
func walkSince(rt reflect.Type, prefix string, seen map[reflect.Type]bool, fn func(path, since string, f reflect.StructField)) {
	rt = elemType(rt)
	if rt.Kind() != reflect.Struct || seen[rt] {
		return
	}
	seen[rt] = true
	defer delete(seen, rt)
	for i := 0; i < rt.NumField(); i++ {
		f := rt.Field(i)
		if (!f.IsExported() && !f.Anonymous) || f.Tag.Get("json") == "-" {
			continue
		}
		path := prefix + jsonName(f)
		if f.Anonymous && !hasJSONName(f) {
			path = strings.TrimSuffix(prefix, ".")
		}
		if since := f.Tag.Get(SinceTag); since != "" {
			fn(path, since, f)
		}
		next := path + "."
		if path == "" {
			next = ""
		}
		walkSince(f.Type, next, seen, fn)
	}
}

func elemType(rt reflect.Type) reflect.Type {
	for rt.Kind() == reflect.Pointer || rt.Kind() == reflect.Slice || rt.Kind() == reflect.Array {
		rt = rt.Elem()
	}
	return rt
}

func hasJSONName(f reflect.StructField) bool {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	return name != ""
}

// HasSinceFields reports whether rt (a request type) has a field with a
// since tag, at any depth.
func HasSinceFields(rt reflect.Type) bool {
	found := false
	walkSince(rt, "", map[reflect.Type]bool{}, func(string, string, reflect.StructField) { found = true })
	return found
}

// Backport returns the JSON request raw of method, whose Go type is rt (a
// struct), in the form a call at version understands: each field whose
// since tag is above version is dropped when its value is zero (null,
// false, 0, "", [], {} or an object of zero values) and refused when it is
// set, with an UnsupportedVersion *Error naming the method, the field (its
// JSON path) and both versions; speaks is the version the caller writes
// the request for, for the message. Call a request type's MakeCompatible
// (MakeCompatible) before. The result is compact JSON with sorted keys, so
// workflow code gets the same bytes on replay.
func Backport(method string, rt reflect.Type, raw []byte, speaks, version string) (json.RawMessage, error) {
	if !HasSinceFields(rt) {
		return raw, nil
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, InvalidArgument("", "the request is not JSON: %v", err)
	}
	refuse := func(path, since string) error {
		return &Error{Type: UnsupportedVersionType, Field: path, Message: fmt.Sprintf(
			"method %s: field %s was added in version %s and is set, but the call is sent at version %s (the caller speaks %s)",
			method, path, since, version, speaks)}
	}
	out, err := backportValue(elemType(rt), v, "", version, refuse)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("method %s: encode request at version %s: %w", method, version, err)
	}
	return b, nil
}

// CheckSince refuses raw, a request of m whose call is stamped with version
// (the version its caller wrote it for), when it sets a field that was
// added in a later version of the method (its since tag): an
// InvalidArgument *Error naming the field, the version that added it and
// the request's version. The caller cannot have meant it: a caller that
// speaks the newer version stamps its call with it, and one capped below
// it drops the field (Backport) or fails. Such fields left at their zero
// value are accepted, as an older caller that does not know them. An
// unversioned call ("") is at m's own version; a request that is not JSON
// is left to Decode.
func (m Method) CheckSince(raw []byte, version string) error {
	if version == "" || !m.hasSince {
		return nil
	}
	if c, err := CompareVersions(version, m.Version); err != nil || c >= 0 {
		return nil
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil
	}
	_, err := backportValue(m.request, v, "", version, func(path, since string) error {
		return InvalidArgument(path, "is set, but it was added in version %s of method %s and the request is written for version %s, which does not have it (a caller that sets it sends its call at %s or later)",
			since, m.Name, version, since)
	})
	return err
}

// backportValue drops from v, a decoded JSON value of type rt, the zero
// fields added after version, and returns refuse's error for the first
// such field that is set (path: its JSON path).
func backportValue(rt reflect.Type, v any, prefix, version string, refuse func(path, since string) error) (any, error) {
	switch x := v.(type) {
	case []any:
		for i, e := range x {
			out, err := backportValue(rt, e, fmt.Sprintf("%s[%d]", strings.TrimSuffix(prefix, "."), i)+".", version, refuse)
			if err != nil {
				return nil, err
			}
			x[i] = out
		}
		return x, nil
	case map[string]any:
		if rt.Kind() != reflect.Struct {
			return x, nil
		}
		return x, backportObject(rt, x, prefix, version, refuse)
	}
	return v, nil
}

func backportObject(rt reflect.Type, obj map[string]any, prefix, version string, refuse func(path, since string) error) error {
	for i := 0; i < rt.NumField(); i++ {
		f := rt.Field(i)
		if (!f.IsExported() && !f.Anonymous) || f.Tag.Get("json") == "-" {
			continue
		}
		ft := elemType(f.Type)
		if f.Anonymous && !hasJSONName(f) && ft.Kind() == reflect.Struct {
			if err := backportObject(ft, obj, prefix, version, refuse); err != nil {
				return err
			}
			continue
		}
		name := jsonName(f)
		val, ok := obj[name]
		if !ok {
			continue
		}
		if since := f.Tag.Get(SinceTag); since != "" {
			if newer, err := CompareVersions(since, version); err == nil && newer > 0 {
				if !zeroJSON(val) {
					return refuse(prefix+name, since)
				}
				delete(obj, name)
				continue
			}
		}
		out, err := backportValue(ft, val, prefix+name+".", version, refuse)
		if err != nil {
			return err
		}
		obj[name] = out
	}
	return nil
}

// zeroJSON reports whether a decoded JSON value is what a Go zero value
// encodes to: null, false, 0, "", [] or {} (or an object of such values).
// Its answer does not depend on the order of a map's iteration, which
// workflowcheck cannot see.
//
//workflowcheck:ignore
func zeroJSON(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case bool:
		return !x
	case string:
		return x == ""
	case json.Number:
		f, err := x.Float64()
		return err == nil && f == 0
	case []any:
		return len(x) == 0
	case map[string]any:
		for _, e := range x {
			if !zeroJSON(e) {
				return false
			}
		}
		return true
	}
	return false
}

// MakeCompatible returns a copy of req (a struct or a pointer to one) after
// its MakeCompatible(version) when its type implements CompatibleMaker, and
// req itself otherwise. An error of the hook is returned as a *Error
// (UnsupportedVersion unless the hook returned a typed one).
func MakeCompatible(method string, req any, version string) (any, error) {
	rv := reflect.ValueOf(req)
	if !rv.IsValid() {
		return req, nil
	}
	ptr := rv.Kind() == reflect.Pointer
	if ptr {
		if rv.IsNil() {
			return req, nil
		}
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct {
		return req, nil
	}
	cp := reflect.New(rv.Type())
	cp.Elem().Set(rv)
	cm, ok := cp.Interface().(CompatibleMaker)
	if !ok {
		return req, nil
	}
	if err := cm.MakeCompatible(version); err != nil {
		if e, ok := AsError(err); ok {
			return nil, e
		}
		return nil, &Error{Type: UnsupportedVersionType, Message: fmt.Sprintf("method %s: the request cannot be sent at version %s: %v", method, version, err)}
	}
	if ptr {
		return cp.Interface(), nil
	}
	return cp.Elem().Interface(), nil
}

type callVersionKey struct{}

// WithCallVersion returns ctx carrying the version ("major.minor") a call
// was made at; the runtime sets it (activities.Method).
func WithCallVersion(ctx context.Context, version string) context.Context {
	return context.WithValue(ctx, callVersionKey{}, version)
}

// CallVersion returns the version the caller made the call at (its
// NovaflowVersion memo, or the version a workflow's call was stamped
// with): "" when the caller did not say (a start from the shell without
// the memo), or outside a call. A method reads it when it must tell an
// older caller apart, as a nova manager does by its arguments.
func CallVersion(ctx context.Context) string {
	v, _ := ctx.Value(callVersionKey{}).(string)
	return v
}
