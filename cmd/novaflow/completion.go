package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/managers/compute/store"
	"github.com/novaflow/novaflow/managers/volume"
	"github.com/novaflow/novaflow/servicegroup"
)

// completionTimeout bounds the database or Temporal look-up of a dynamic
// completion: a shell must not hang on a stack that is down, and a failed
// look-up completes nothing, quietly.
const completionTimeout = 2 * time.Second

type completer = func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective)

// addCompletions gives the commands of root their dynamic completions:
// instance and volume IDs, hosts, topics and methods, services.
func addCompletions(root *cobra.Command) {
	byPath := map[string]completer{
		"instance show":        nth(0, completeInstances),
		"instance reboot":      nth(0, completeInstances),
		"instance stop":        nth(0, completeInstances),
		"instance start":       nth(0, completeInstances),
		"instance delete":      nth(0, completeInstances),
		"volume show":          nth(0, completeVolumes),
		"volume delete":        nth(0, completeVolumes),
		"volume attach":        pair(completeVolumes, completeInstances),
		"volume detach":        pair(completeVolumes, completeInstances),
		"host show":            nth(0, completeHosts),
		"call":                 nth(0, completeMethods),
		"run":                  nth(0, completeTopics),
		"service run-periodic": nth(0, completeTopics),
		"service disable":      pair(completeServiceHosts, completeBinaries),
		"service enable":       pair(completeServiceHosts, completeBinaries),
		"service force-down":   pair(completeServiceHosts, completeBinaries),
		"service delete":       pair(completeServiceHosts, completeBinaries),
	}
	flags := map[string]completer{
		"host":     completeServiceHosts,
		"topic":    completeTopics,
		"binary":   completeBinaries,
		"instance": completeInstances,
		"status": func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
			return []cobra.Completion{string(volume.Available), string(volume.InUse), string(volume.Error), string(volume.Deleted),
				string(volume.Creating), string(volume.Attaching), string(volume.Detaching), string(volume.Deleting)}, cobra.ShellCompDirectiveNoFileComp
		},
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		path := strings.TrimPrefix(strings.TrimPrefix(c.CommandPath(), root.Name()), " ")
		if f, ok := byPath[path]; ok {
			c.ValidArgsFunction = f
		}
		for name, f := range flags {
			if c.Flags().Lookup(name) != nil && !strings.HasPrefix(path, "dev") {
				_ = c.RegisterFlagCompletionFunc(name, f)
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	_ = root.RegisterFlagCompletionFunc("output", func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return []cobra.Completion{formatTable, formatJSON, formatJSONL, formatValue}, cobra.ShellCompDirectiveNoFileComp
	})
}

// nth completes the i-th positional argument with f, and nothing after it.
func nth(i int, f completer) completer {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) != i {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return f(cmd, args, toComplete)
	}
}

// pair completes the first argument with a, the second with b.
func pair(a, b completer) completer {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		switch len(args) {
		case 0:
			return a(cmd, args, toComplete)
		case 1:
			return b(cmd, args, toComplete)
		}
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeFrom runs f against the stack with a short deadline; any failure
// completes nothing.
func completeFrom(cmd *cobra.Command, f func(ctx context.Context, c *conn) ([]cobra.Completion, error)) ([]cobra.Completion, cobra.ShellCompDirective) {
	ctx, cancel := context.WithTimeout(context.Background(), completionTimeout)
	defer cancel()
	c, err := openConn()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	defer c.close()
	out, err := f(ctx, c)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeInstances completes the instance IDs instance list shows the same
// caller (openScopedInstances): with NOVAFLOW_AUTH on and a token, its
// project's only, unless it is an admin's; another project's IDs would leak.
func completeInstances(cmd *cobra.Command, _ []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return completeFrom(cmd, func(ctx context.Context, c *conn) ([]cobra.Completion, error) {
		v, err := openScopedInstances(ctx, c)
		if err != nil {
			return nil, err
		}
		insts, err := v.list(ctx, store.Filter{})
		if err != nil {
			return nil, err
		}
		var out []cobra.Completion
		for _, i := range insts {
			out = append(out, cobra.CompletionWithDesc(i.UUID, fmt.Sprintf("%s %s", i.Name, i.VMState)))
		}
		return out, nil
	})
}

func completeVolumes(cmd *cobra.Command, _ []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return completeFrom(cmd, func(ctx context.Context, c *conn) ([]cobra.Completion, error) {
		calls, err := c.rpc(ctx)
		if err != nil {
			return nil, err
		}
		var res volume.ListResult
		if err := calls.Call(ctx, volume.Topic, "list_volumes", volume.ListRequest{}, &res); err != nil {
			return nil, err
		}
		var out []cobra.Completion
		for _, v := range res.Volumes {
			out = append(out, cobra.CompletionWithDesc(v.ID, fmt.Sprintf("%s %s", orDash(v.Name), v.Status)))
		}
		return out, nil
	})
}

// completeHosts completes compute hosts (compute_nodes): what host list
// shows the same caller, nothing when it refuses them (requireAdmin).
func completeHosts(cmd *cobra.Command, _ []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return completeFrom(cmd, func(ctx context.Context, c *conn) ([]cobra.Completion, error) {
		if err := requireAdmin(ctx, c.cfg); err != nil {
			return nil, err
		}
		st, err := instanceStore(ctx, c)
		if err != nil {
			return nil, err
		}
		nodes, err := st.Nodes(ctx)
		if err != nil {
			return nil, err
		}
		var out []cobra.Completion
		for _, n := range nodes {
			out = append(out, n.Host)
		}
		return out, nil
	})
}

// completeServiceHosts completes the hosts of the services table, which
// service list shows (the --host flags complete them too): nothing for a
// caller it refuses (requireAdmin).
func completeServiceHosts(cmd *cobra.Command, _ []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return completeFrom(cmd, func(ctx context.Context, c *conn) ([]cobra.Completion, error) {
		return serviceColumn(ctx, c, func(r servicegroup.Record) string { return r.Host })
	})
}

func completeBinaries(cmd *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return completeFrom(cmd, func(ctx context.Context, c *conn) ([]cobra.Completion, error) {
		return serviceColumn(ctx, c, func(r servicegroup.Record) string {
			if len(args) == 1 && r.Host != args[0] {
				return ""
			}
			return r.Binary
		})
	})
}

// serviceColumn is a column of the rows service list shows the caller.
func serviceColumn(ctx context.Context, c *conn, col func(servicegroup.Record) string) ([]cobra.Completion, error) {
	if err := requireAdmin(ctx, c.cfg); err != nil {
		return nil, err
	}
	pool, err := c.db(ctx)
	if err != nil {
		return nil, err
	}
	recs, _, err := servicegroup.NewStore(pool).List(ctx, servicegroup.Filter{})
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []cobra.Completion
	for _, r := range recs {
		if v := col(r); v != "" && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	sort.Strings(out)
	return out, nil
}

func completeTopics(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return managers.Topics(), cobra.ShellCompDirectiveNoFileComp
}

// completeMethods completes TOPIC.METHOD from the manager definitions this
// binary registers.
func completeMethods(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
	var out []cobra.Completion
	for _, topic := range managers.Topics() {
		def, err := managers.ForTopic(topic, "")
		if err != nil || def.Methods == nil {
			continue
		}
		for _, m := range def.Methods() {
			out = append(out, cobra.CompletionWithDesc(topic+"."+m.Name, "version "+m.Version))
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}
