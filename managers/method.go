package managers

import (
	"bytes"
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

	request reflect.Type
	invoke  func(ctx context.Context, req any) (any, error)
}

var methodName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// NewMethod declares an RPC method from a typed Go function. Req must be a
// struct (its JSON form is the request); fields tagged `required:"true"` must be
// present and non-null; a Req with a `Validate() error` method is validated after
// decoding. It panics on a name that is not snake_case or a Req that is not a
// struct: both are programming errors found at registration.
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
	return Method{
		Name:    name,
		Version: version,
		request: rt,
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

// Decode parses a JSON request strictly: unknown fields, wrong types, missing
// required fields and failed validation are *Error of type InvalidArgument
// naming the field. It returns the decoded request for Invoke.
func (m Method) Decode(raw []byte) (any, error) {
	if m.request == nil {
		return nil, fmt.Errorf("method %s was not declared with NewMethod", m.Name)
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		raw = []byte("{}")
	}
	req := reflect.New(m.request)
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(req.Interface()); err != nil {
		return nil, decodeError(err)
	}
	if dec.More() {
		return nil, InvalidArgument("", "request has data after the JSON object")
	}
	var present map[string]json.RawMessage
	if err := json.Unmarshal(raw, &present); err != nil {
		return nil, InvalidArgument("", "request is not a JSON object")
	}
	for i := 0; i < m.request.NumField(); i++ {
		f := m.request.Field(i)
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

// ParseVersion parses "major.minor".
func ParseVersion(v string) (major, minor int, err error) {
	if _, err := fmt.Sscanf(v, "%d.%d", &major, &minor); err != nil || major < 0 || minor < 0 ||
		fmt.Sprintf("%d.%d", major, minor) != v {
		return 0, 0, fmt.Errorf("version %q: want major.minor, e.g. 1.0", v)
	}
	return major, minor, nil
}
