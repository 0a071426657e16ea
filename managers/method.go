package managers

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
)

// Method is one RPC method of a manager, declared with NewMethod. Its requests
// and results are plain JSON, so it can be called from Go, from another
// workflow, or from the shell with `temporal workflow execute`.
type Method struct {
	// Name is the method's name, snake_case as nova names them (reboot_instance).
	Name string
	// Version is the method's version "major.minor"; callers may cap what they send.
	Version string
	// Object is the JSON field of the request that names the method's main
	// object (instance_uuid); its value is shown as search attribute
	// NovaflowInstance. Empty when there is none.
	Object string
	// Since is the version that added the method, when it is not minor 0 of
	// its major (WithSince): callers capped below it cannot send it.
	Since string
	// Access says what the method does, for the default authorization
	// policy (package policy): AccessMutation when unset.
	Access Access

	request  reflect.Type
	hasSince bool // the request has fields with a since tag (CheckSince)
	invoke   func(ctx context.Context, req any) (any, error)
}

var methodName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// NewMethod declares an RPC method from a typed Go function. Req must be a
// struct (its JSON form is the request); fields tagged `required:"true"` must be
// present and non-null; a Req with a `Validate() error` method is validated after
// decoding. A field added in a later minor of the method's major carries
// `since:"major.minor"` and is optional (see Backport and docs/rpc.md). It panics on a name that is not snake_case or a Req that is not a
// struct: both are programming errors found at registration.
//
// Requests are decoded twice: by the RPC workflow before it dispatches the
// call (so a bad request fails at once, without reaching a host), and by the
// activity that runs the method. Validate therefore runs inside workflow code
// and must be deterministic: no I/O, no clock, no randomness.
//
// A top-level "host" field of a request is the call's target host and is
// stripped before decoding, unless Req declares a JSON field "host" itself:
// then the method receives it too, and it still names the host the call runs
// on. Name a field "host" only when it means that; use another name (such as
// "dest_host") for any other host.
func NewMethod[Req, Resp any](name, version string, fn func(ctx context.Context, req Req) (Resp, error)) Method {
	if !methodName.MatchString(name) {
		panic(fmt.Sprintf("managers: method name %q is not snake_case", name))
	}
	if _, _, err := ParseVersion(version); err != nil {
		panic(fmt.Sprintf("managers: method %s: %v", name, err))
	}
	rt := reflect.TypeFor[Req]()
	if rt.Kind() != reflect.Struct {
		panic(fmt.Sprintf("managers: method %s: request type %s is not a struct", name, rt))
	}
	checkSince(name, version, rt)
	return Method{
		Name:     name,
		Version:  version,
		request:  rt,
		hasSince: HasSinceFields(rt),
		invoke: func(ctx context.Context, req any) (any, error) {
			return fn(ctx, *(req.(*Req)))
		},
	}
}

// WithObject returns m with Object set to the request field naming its main object.
func (m Method) WithObject(field string) Method {
	m.Object = field
	return m
}

// Access is what a method does, from which the default authorization
// policy derives who may call it (package policy).
type Access string

// The kinds of Access.
const (
	// AccessMutation changes state: members of the owning project (of any
	// project for a method without an Object). The default.
	AccessMutation Access = ""
	// AccessRead only reads: members and readers of the owning project (of
	// any project for a method without an Object).
	AccessRead Access = "read"
	// AccessAdmin administers the service: admins and services only.
	AccessAdmin Access = "admin"
)

// WithAccess returns m with Access set to a.
func (m Method) WithAccess(a Access) Method {
	m.Access = a
	return m
}

// HostField is the request field reserved for a call's target host (see
// NewMethod): Decode drops it unless the request type declares it.
const HostField = "host"

// Decode parses a JSON request strictly: unknown fields, wrong types, missing
// required fields and failed validation are *Error of type InvalidArgument
// naming the field. A top-level HostField is dropped first unless the request
// type declares it. It returns the decoded request for Invoke.
func (m Method) Decode(raw []byte) (any, error) {
	if m.request == nil {
		return nil, fmt.Errorf("method %s was not declared with NewMethod", m.Name)
	}
	if len(raw) <= MaxRequestLen && bytes.Contains(raw, []byte(`"`+HostField+`"`)) && !m.Declares(HostField) {
		raw = withoutField(bytes.TrimSpace(raw), HostField)
	}
	return decode(m.request, raw)
}

// DecodeRequest parses a JSON request into a Req strictly, as Method.Decode
// does a method's request (but without dropping HostField): unknown fields,
// wrong types, missing required fields and a failed Validate are *Error of
// type InvalidArgument naming the field. Req must be a struct. Workflows
// that take plain JSON input, such as a domain workflow started from the
// shell, decode it with this (see rpc.DecodeInput).
func DecodeRequest[Req any](raw []byte) (Req, error) {
	var zero Req
	rt := reflect.TypeFor[Req]()
	if rt.Kind() != reflect.Struct {
		return zero, fmt.Errorf("managers: DecodeRequest: %s is not a struct", rt)
	}
	v, err := decode(rt, raw)
	if err != nil {
		return zero, err
	}
	return *(v.(*Req)), nil
}

// decode parses raw strictly into a new value of the struct type rt and
// returns a pointer to it.
func decode(rt reflect.Type, raw []byte) (any, error) {
	if len(raw) > MaxRequestLen {
		return nil, InvalidArgument("", "the request is %d bytes: at most %d", len(raw), MaxRequestLen)
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		raw = []byte("{}")
	}
	req := reflect.New(rt)
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(req.Interface()); err != nil {
		return nil, decodeError(err)
	}
	if dec.More() {
		return nil, InvalidArgument("", "request has data after the JSON object")
	}
	if err := checkKeys(rt, raw); err != nil {
		if e, ok := AsError(err); ok {
			return nil, e
		}
		return nil, InvalidArgument("", "request is not valid JSON: %v", err)
	}
	var present map[string]json.RawMessage
	if err := json.Unmarshal(raw, &present); err != nil {
		return nil, InvalidArgument("", "request is not a JSON object")
	}
	for i := 0; i < rt.NumField(); i++ {
		f := rt.Field(i)
		if f.Tag.Get("required") != "true" {
			continue
		}
		name := jsonName(f)
		if v, ok := present[name]; !ok || bytes.Equal(v, []byte("null")) {
			return nil, InvalidArgument(name, "is required")
		}
	}
	if v, ok := req.Interface().(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			if e, ok := AsError(err); ok {
				return nil, e
			}
			return nil, InvalidArgument("", "%v", err)
		}
	}
	return req.Interface(), nil
}

// Declares reports whether the request type has a JSON field named field.
func (m Method) Declares(field string) bool {
	if m.request == nil {
		return false
	}
	for i := 0; i < m.request.NumField(); i++ {
		f := m.request.Field(i)
		if f.IsExported() && f.Tag.Get("json") != "-" && jsonName(f) == field {
			return true
		}
	}
	return false
}

// Supports checks that the method can serve a call made at version want: an
// empty want means the method's own version; otherwise want must have the
// method's major and a minor no higher than its own (a method keeps serving
// the older minors of its major). A failure is an *Error of type
// UnsupportedVersion.
func (m Method) Supports(want string) error {
	if want == "" {
		return nil
	}
	ok, err := Compatible(m.Version, want)
	if err != nil {
		return &Error{Type: UnsupportedVersionType, Message: err.Error()}
	}
	if !ok {
		return &Error{Type: UnsupportedVersionType, Message: fmt.Sprintf(
			"method %s speaks version %s, cannot serve a call at version %s", m.Name, m.Version, want)}
	}
	return nil
}

// Invoke runs the method on a request returned by Decode.
func (m Method) Invoke(ctx context.Context, req any) (any, error) {
	return m.invoke(ctx, req)
}

// Call decodes raw strictly and runs the method, returning its JSON result.
func (m Method) Call(ctx context.Context, raw []byte) (json.RawMessage, error) {
	req, err := m.Decode(raw)
	if err != nil {
		return nil, err
	}
	resp, err := m.Invoke(ctx, req)
	if err != nil {
		return nil, err
	}
	out, err := json.Marshal(resp)
	if err != nil {
		return nil, fmt.Errorf("method %s: encode result: %w", m.Name, err)
	}
	return out, nil
}

// withoutField returns the JSON object raw without its top-level field, or
// raw itself when it is not a JSON object (decoding then says why).
func withoutField(raw []byte, field string) []byte {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return raw
	}
	if _, ok := obj[field]; !ok {
		return raw
	}
	delete(obj, field)
	out, err := json.Marshal(obj)
	if err != nil {
		return raw
	}
	return out
}

func jsonName(f reflect.StructField) string {
	tag := f.Tag.Get("json")
	if name, _, _ := strings.Cut(tag, ","); name != "" && name != "-" {
		return name
	}
	return f.Name
}

func decodeError(err error) *Error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return InvalidArgument("", "request must be a JSON object, not %s", typeErr.Value)
		}
		return InvalidArgument(field, "want %s, got JSON %s", typeErr.Type, typeErr.Value)
	case errors.As(err, &syntaxErr):
		return InvalidArgument("", "malformed JSON at offset %d: %v", syntaxErr.Offset, err)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return InvalidArgument(field, "unknown field")
	default:
		return InvalidArgument("", "%v", err)
	}
}

// Compatible reports whether a side at version have can serve a call made at
// version want: the same major and a minor no higher than have's.
func Compatible(have, want string) (bool, error) {
	hMajor, hMinor, err := ParseVersion(have)
	if err != nil {
		return false, err
	}
	wMajor, wMinor, err := ParseVersion(want)
	if err != nil {
		return false, err
	}
	return hMajor == wMajor && wMinor <= hMinor, nil
}

// CompareVersions compares two "major.minor" versions: -1 when a < b, 0 when
// equal, +1 when a > b.
func CompareVersions(a, b string) (int, error) {
	aMajor, aMinor, err := ParseVersion(a)
	if err != nil {
		return 0, err
	}
	bMajor, bMinor, err := ParseVersion(b)
	if err != nil {
		return 0, err
	}
	if c := cmp.Compare(aMajor, bMajor); c != 0 {
		return c, nil
	}
	return cmp.Compare(aMinor, bMinor), nil
}

// ParseVersion parses "major.minor".
func ParseVersion(v string) (major, minor int, err error) {
	if _, err := fmt.Sscanf(v, "%d.%d", &major, &minor); err != nil || major < 0 || minor < 0 ||
		fmt.Sprintf("%d.%d", major, minor) != v {
		return 0, 0, fmt.Errorf("version %q: want major.minor, e.g. 1.0", v)
	}
	return major, minor, nil
}

// MethodByName returns the RPC method of m named name (snake_case, as
// declared with NewMethod), and whether m has one.
func MethodByName(m Manager, name string) (Method, bool) {
	for _, meth := range m.RPCMethods() {
		if meth.Name == name {
			return meth, true
		}
	}
	return Method{}, false
}
