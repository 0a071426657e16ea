package main

import (
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/worker"
)

func newConfigCmd() *cobra.Command {
	var markdown bool
	cmd := &cobra.Command{
		Use: "config",
		Example: `  novaflow config
  novaflow config --markdown`,
		Short: "Print every setting with its effective value (secrets redacted)",
		Long: `Print every setting novaflow reads (NOVAFLOW_* variables, the runtime's and
each registered manager's) with its default and effective value; secrets are
redacted. --markdown prints the table of docs/configuration.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			if markdown {
				fmt.Fprint(out, worker.MarkdownTable(allSettings(nil, nil)))
				return nil
			}
			env, cfg, err := useDevStack().settings()
			if err != nil {
				return err
			}
			settings := allSettings(&cfg, env)
			rows := make([]settingView, len(settings))
			var from []string
			for i, s := range settings {
				rows[i] = settingView{Name: s.Name, Value: s.Value, Default: s.Default, Description: s.Description}
				if src := cfg.SettingSource(s.Name); src != s.Name {
					rows[i].Source = src
					from = append(from, s.Name+" from "+src)
				}
			}
			return render(cmd, rows, func(out io.Writer, _ outputOpts) error {
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "SETTING\tVALUE\tDEFAULT")
				for _, s := range rows {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Name, s.Value, s.Default)
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				if len(from) > 0 {
					// Temporal's own configuration (a profile, TEMPORAL_*) gave these.
					fmt.Fprintf(out, "\n%s\n", strings.Join(from, "\n"))
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&markdown, "markdown", false, "print the settings table of docs/configuration.md")
	return cmd
}

// settingView is one setting as `novaflow config -o json` prints it.
type settingView struct {
	Name        string `json:"name"`
	Value       string `json:"value"`
	Default     string `json:"default"`
	Description string `json:"description"`
	// Source is where a Temporal setting that is not novaflow's own came
	// from (a TEMPORAL_* variable, a profile's key), when it did.
	Source string `json:"source,omitempty"`
}

// allSettings lists the runtime's settings (with cfg's values when given),
// then each registered manager's (with their values in env), then the
// per-topic and per-kind patterns.
func allSettings(cfg *worker.Config, env worker.Env) []worker.Setting {
	if cfg == nil {
		cfg = &worker.Config{}
	}
	out := worker.Settings(cfg)
	seen := map[string]bool{}
	for _, s := range out {
		seen[s.Name] = true
	}
	names := managers.Names()
	sort.Strings(names)
	for _, name := range names {
		def, _ := managers.Lookup(name)
		if def.Config == nil {
			continue
		}
		spec := reflect.New(reflect.TypeOf(def.Config).Elem()).Interface()
		if cfg.Host != "" { // effective values wanted
			if err := env.Decode(spec); err != nil {
				continue
			}
		}
		for _, s := range worker.Settings(spec) {
			if !seen[s.Name] {
				seen[s.Name] = true
				out = append(out, s)
			}
		}
	}
	return append(out, worker.PatternSettings...)
}
