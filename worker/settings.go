package worker

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/novaflow/novaflow/internal/db"
)

// Setting describes one environment variable, for docs and `novaflow config`.
type Setting struct {
	Name        string // NOVAFLOW_REPORT_INTERVAL
	Default     string // "10s"; empty when there is none
	Description string
	// Value is the setting's value in the spec Settings was given, with
	// secrets redacted.
	Value string
}

// Settings lists the settings of spec, a pointer to a struct with envconfig
// tags (Config, or a manager's Config), in field order.
func Settings(spec any) []Setting {
	v := reflect.Indirect(reflect.ValueOf(spec))
	t := v.Type()
	var out []Setting
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		key := f.Tag.Get("envconfig")
		if key == "" || !f.IsExported() {
			continue
		}
		name := EnvPrefix + "_" + key
		value := fmt.Sprint(v.Field(i).Interface())
		if f.Tag.Get("secret") == "true" || strings.Contains(key, "DATABASE_URL") && !strings.HasSuffix(key, "_FILE") {
			value = redactValue(key, value)
		}
		out = append(out, Setting{Name: name, Default: f.Tag.Get("default"), Description: f.Tag.Get("desc"), Value: value})
	}
	return out
}

func redactValue(key, value string) string {
	if value == "" {
		return ""
	}
	if strings.Contains(key, "DATABASE_URL") {
		return db.Redact(value)
	}
	return "(set)"
}

// PatternSettings are the settings whose names depend on a topic or a driver
// kind, with what they mean.
var PatternSettings = []Setting{
	{Name: "NOVAFLOW_<TOPIC>_MANAGER", Description: "the manager a service of TOPIC runs (its registered name); default: the topic's own manager"},
	{Name: "NOVAFLOW_UPGRADE_LEVELS_<TOPIC>", Description: "the highest RPC version callers send to TOPIC's methods: a version (major.minor) or auto (derived from the minimum service version of TOPIC's services); unset = no cap (see docs/rpc.md)"},
	{Name: "NOVAFLOW_<KIND>_DRIVER", Description: "the driver of KIND a manager loads by name (e.g. NOVAFLOW_COMPUTE_DRIVER=process); an unknown name fails start-up listing the registered ones"},
}

// MarkdownTable renders settings as a Markdown table: name, default, meaning.
func MarkdownTable(settings []Setting) string {
	var b strings.Builder
	b.WriteString("| setting | default | meaning |\n|---|---|---|\n")
	for _, s := range settings {
		def := "(none)"
		if s.Default != "" {
			def = "`" + s.Default + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", s.Name, def, strings.ReplaceAll(s.Description, "|", "\\|"))
	}
	return b.String()
}
