// Package envconf fills a settings struct from variables named by its
// envconfig tags, as github.com/kelseyhightower/envconfig v1.4.0 does, but
// from a lookup function given by the caller instead of the process's
// environment: the runtime reads settings from the environment that cmd
// passes down (and from NOVAFLOW_CONFIG_FILE), and a test gets a struct's
// defaults without setting any variable.
//
// It honours the same tags: envconfig (the variable's name after the
// prefix; when the prefixed variable is unset, the unprefixed name is
// looked up too), default, required, ignored and split_words; and the same
// types: strings, booleans, integers, floats, time.Duration, slices
// (comma-separated), maps (key:value pairs separated by commas), nested
// structs, and fields whose type implements envconfig.Decoder,
// envconfig.Setter, encoding.TextUnmarshaler or encoding.BinaryUnmarshaler.
package envconf

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"
)

// Lookup returns the value of the variable key and whether it is set.
type Lookup func(key string) (string, bool)

// ParseError is a variable whose value does not parse as its field's type.
type ParseError struct {
	Key   string // NOVAFLOW_REPORT_INTERVAL
	Field string // ReportInterval
	Type  string // time.Duration
	Value string
	Err   error
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("%s: cannot parse %q as %s: %v", e.Key, e.Value, e.Type, e.Err)
}

func (e *ParseError) Unwrap() error { return e.Err }

// MissingError is a required variable that is unset and has no default.
type MissingError struct {
	Key string
}

func (e *MissingError) Error() string { return "required key " + e.Key + " missing value" }

// Process fills spec, a pointer to a struct, from the variables lookup
// finds: each field from <prefix>_<name> ("" prefix: <name>), else from its
// default tag. A field whose variable is unset and has no default keeps its
// value. A value that does not parse is a *ParseError, an unset required
// variable a *MissingError.
func Process(prefix string, spec any, lookup Lookup) error {
	if lookup == nil {
		lookup = func(string) (string, bool) { return "", false }
	}
	fields, err := gather(prefix, spec)
	if err != nil {
		return err
	}
	for _, f := range fields {
		value, ok := lookup(f.key)
		if !ok && f.alt != "" {
			value, ok = lookup(f.alt)
		}
		def := f.tag.Get("default")
		if def != "" && !ok {
			value = def
		}
		if !ok && def == "" {
			if isTrue(f.tag.Get("required")) {
				key := f.key
				if f.alt != "" {
					key = f.alt
				}
				return &MissingError{Key: key}
			}
			continue
		}
		if err := set(f.value, value); err != nil {
			return &ParseError{Key: f.key, Field: f.name, Type: f.value.Type().String(), Value: value, Err: err}
		}
	}
	return nil
}

// Defaults fills spec, a pointer to a struct, with the values of its default
// tags, as Process does when no variable is set.
func Defaults(spec any) error { return Process("", spec, nil) }

// field is one settable field and the variables it is read from.
type field struct {
	name     string
	key, alt string
	value    reflect.Value
	tag      reflect.StructTag
}

var (
	// The same word splitting as envconfig's split_words.
	wordRegexp    = regexp.MustCompile("([^A-Z]+|[A-Z]+[^A-Z]+|[A-Z]+)")
	acronymRegexp = regexp.MustCompile("([A-Z]+)([A-Z][^A-Z]+)")
)

// ErrInvalidSpec is a spec that is not a pointer to a struct.
var ErrInvalidSpec = errors.New("specification must be a struct pointer")

func gather(prefix string, spec any) ([]field, error) {
	s := reflect.ValueOf(spec)
	if s.Kind() != reflect.Pointer || s.IsNil() || s.Elem().Kind() != reflect.Struct {
		return nil, ErrInvalidSpec
	}
	s = s.Elem()
	t := s.Type()
	var out []field
	for i := 0; i < s.NumField(); i++ {
		v, sf := s.Field(i), t.Field(i)
		if !v.CanSet() || isTrue(sf.Tag.Get("ignored")) {
			continue
		}
		for v.Kind() == reflect.Pointer {
			if v.IsNil() {
				if v.Type().Elem().Kind() != reflect.Struct {
					break // a nil pointer to a non-struct: set when parsed
				}
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		f := field{name: sf.Name, value: v, tag: sf.Tag, alt: strings.ToUpper(sf.Tag.Get("envconfig"))}
		key := sf.Name
		if isTrue(sf.Tag.Get("split_words")) {
			if words := wordRegexp.FindAllStringSubmatch(sf.Name, -1); len(words) > 0 {
				var parts []string
				for _, w := range words {
					if m := acronymRegexp.FindStringSubmatch(w[0]); len(m) == 3 {
						parts = append(parts, m[1], m[2])
					} else {
						parts = append(parts, w[0])
					}
				}
				key = strings.Join(parts, "_")
			}
		}
		if f.alt != "" {
			key = f.alt
		}
		if prefix != "" {
			key = prefix + "_" + key
		}
		f.key = strings.ToUpper(key)
		if v.Kind() == reflect.Struct && !decodes(v) {
			inner := prefix
			if !sf.Anonymous {
				inner = f.key
			}
			nested, err := gather(inner, v.Addr().Interface())
			if err != nil {
				return nil, err
			}
			out = append(out, nested...)
			continue
		}
		out = append(out, f)
	}
	return out, nil
}

// decodes reports whether v's type decodes itself.
func decodes(v reflect.Value) bool {
	return decoder(v) != nil
}

// decoder returns the function by which v decodes itself, if it does.
func decoder(v reflect.Value) func(string) error {
	for _, x := range []reflect.Value{v, addr(v)} {
		if !x.IsValid() || !x.CanInterface() {
			continue
		}
		switch d := x.Interface().(type) {
		case envconfig.Decoder:
			return d.Decode
		case envconfig.Setter:
			return d.Set
		case encoding.TextUnmarshaler:
			return func(s string) error { return d.UnmarshalText([]byte(s)) }
		case encoding.BinaryUnmarshaler:
			return func(s string) error { return d.UnmarshalBinary([]byte(s)) }
		}
	}
	return nil
}

func addr(v reflect.Value) reflect.Value {
	if v.CanAddr() {
		return v.Addr()
	}
	return reflect.Value{}
}

var durationType = reflect.TypeOf(time.Duration(0))

// set parses value into v, as envconfig's processField does.
func set(v reflect.Value, value string) error {
	if d := decoder(v); d != nil {
		return d(value)
	}
	typ := v.Type()
	if typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
		if v.IsNil() {
			v.Set(reflect.New(typ))
		}
		v = v.Elem()
		if d := decoder(v); d != nil {
			return d(value)
		}
	}
	switch typ.Kind() {
	case reflect.String:
		v.SetString(value)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var n int64
		var err error
		if typ == durationType {
			var d time.Duration
			d, err = time.ParseDuration(value)
			n = int64(d)
		} else {
			n, err = strconv.ParseInt(value, 0, typ.Bits())
		}
		if err != nil {
			return err
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(value, 0, typ.Bits())
		if err != nil {
			return err
		}
		v.SetUint(n)
	case reflect.Bool:
		b, err := strconv.ParseBool(value)
		if err != nil {
			return err
		}
		v.SetBool(b)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(value, typ.Bits())
		if err != nil {
			return err
		}
		v.SetFloat(f)
	case reflect.Slice:
		sl := reflect.MakeSlice(typ, 0, 0)
		if typ.Elem().Kind() == reflect.Uint8 {
			sl = reflect.ValueOf([]byte(value)).Convert(typ)
		} else if strings.TrimSpace(value) != "" {
			items := strings.Split(value, ",")
			sl = reflect.MakeSlice(typ, len(items), len(items))
			for i, item := range items {
				if err := set(sl.Index(i), item); err != nil {
					return err
				}
			}
		}
		v.Set(sl)
	case reflect.Map:
		m := reflect.MakeMap(typ)
		if strings.TrimSpace(value) != "" {
			for _, pair := range strings.Split(value, ",") {
				kv := strings.Split(pair, ":")
				if len(kv) != 2 {
					return fmt.Errorf("invalid map item: %q", pair)
				}
				k := reflect.New(typ.Key()).Elem()
				if err := set(k, kv[0]); err != nil {
					return err
				}
				e := reflect.New(typ.Elem()).Elem()
				if err := set(e, kv[1]); err != nil {
					return err
				}
				m.SetMapIndex(k, e)
			}
		}
		v.Set(m)
	default:
		return fmt.Errorf("unsupported type %s", typ)
	}
	return nil
}

func isTrue(s string) bool {
	b, _ := strconv.ParseBool(s)
	return b
}
