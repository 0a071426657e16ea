package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

// latencies collects the durations of one measured operation.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
	// failed counts the operations that failed, or that were still running
	// when their throughput round was cut (a stalled one); first is the first
	// such error.
	failed int
	first  error
}

func (l *latencies) fail(err error) {
	l.mu.Lock()
	l.failed++
	if l.first == nil {
		l.first = err
	}
	l.mu.Unlock()
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// summary is a latency distribution.
type summary struct {
	n                           int
	p50, p90, p95, p99, max, mn time.Duration
}

func (l *latencies) summary() summary {
	l.mu.Lock()
	d := slices.Clone(l.d)
	l.mu.Unlock()
	if len(d) == 0 {
		return summary{}
	}
	slices.Sort(d)
	at := func(p float64) time.Duration {
		i := int(p*float64(len(d))+0.5) - 1 // nearest rank
		return d[min(max(i, 0), len(d)-1)]
	}
	var sum time.Duration
	for _, v := range d {
		sum += v
	}
	return summary{n: len(d), p50: at(0.50), p90: at(0.90), p95: at(0.95), p99: at(0.99), max: d[len(d)-1], mn: sum / time.Duration(len(d))}
}

// latencyTable writes the latency of each scenario of a same-run
// comparison, with its ratios to its baseline's (bench gate, bench authz,
// bench codec), and a blank line.
func latencyTable(out io.Writer, scs []scenario, lat map[string]*latencies) {
	fmt.Fprintln(out, "| scenario | what | p50 | p95 | p99 | mean | p50 ratio | p95 ratio | p99 ratio | mean ratio |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|---|---|---|")
	for _, s := range scs {
		m := lat[s.name].summary()
		var r [4]string
		if s.baseline != "" {
			b := lat[s.baseline].summary()
			for i, p := range [][2]time.Duration{{m.p50, b.p50}, {m.p95, b.p95}, {m.p99, b.p99}, {m.mn, b.mn}} {
				r[i] = ratio(float64(p[0]), float64(p[1]))
			}
		}
		fmt.Fprintf(out, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", s.name, strings.TrimSpace(s.what),
			ms(m.p50), ms(m.p95), ms(m.p99), ms(m.mn), r[0], r[1], r[2], r[3])
	}
	fmt.Fprintln(out)
}

// ms formats a duration in milliseconds.
func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v < 1:
		return fmt.Sprintf("%.3f", v)
	case v < 100:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}

// ratio formats a/b.
func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", a/b)
}

// machine describes this machine as the report states it: cores, memory,
// CPU model; no host names or paths.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	mem := "?"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(strings.SplitN(string(b), "\n", 2)[0], "MemTotal: %d kB", &kb); err == nil {
			mem = fmt.Sprintf("%.0f GiB", float64(kb)/(1<<20))
		}
	}
	return fmt.Sprintf("%d cores, %s, %s, %s", runtime.NumCPU(), mem, model, runtime.Version())
}

// loadAvg is the 1-minute load average.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

// header starts a report: what ran, where and when.
func header(w io.Writer, title string, lines ...string) {
	fmt.Fprintf(w, "## %s\n\n", title)
	fmt.Fprintf(w, "- date: %s\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(w, "- machine: %s\n", machine())
	fmt.Fprintf(w, "- load average (1 min) at start: %s\n", loadAvg())
	fmt.Fprintf(w, "- command: go run ./bench %s\n", strings.Join(os.Args[1:], " "))
	for _, l := range lines {
		fmt.Fprintf(w, "- %s\n", l)
	}
	fmt.Fprintln(w)
}

// progress prints a progress line on stderr.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}
