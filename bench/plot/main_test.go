package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sample = `design,hosts,window_s,late_pct,server_cpu_cores,machine_cores
topic,100,180,0.00,0.05,2
topic,250,180,0.00,0.08,2
topic,500,180,0.10,0.15,2
per-host (6fd2f98),200,120,0.00,0.90,2
per-host (6fd2f98),500,120,62.25,1.23,2
topic,1000,180,,,2
`

func TestParseCSV(t *testing.T) {
	rows, err := parseCSV(strings.NewReader(sample), "sample")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 6 {
		t.Fatalf("got %d rows, want 6", len(rows))
	}
	if r := rows[4]; r.design != "per-host (6fd2f98)" || r.hosts != 500 || r.latePct != 62.25 || r.serverCPU != 1.23 || r.cores != 2 {
		t.Errorf("row 4 = %+v", r)
	}
	if r := rows[5]; r.latePct == r.latePct {
		t.Errorf("empty late_pct parsed as %v, want NaN", r.latePct)
	}
	if _, err := parseCSV(strings.NewReader("design,hosts\nx,1\n"), "short"); err == nil {
		t.Error("a CSV without late_pct and server_cpu_cores parsed")
	}
}

func TestDrawWritesAPNG(t *testing.T) {
	rows, err := parseCSV(strings.NewReader(sample), "sample")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "scale.png")
	if err := draw2(rows, "test", 1, out); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Errorf("%s is not a PNG", out)
	}
}
