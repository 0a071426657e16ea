//go:build linux

package process

import (
	"os"
	"testing"
)

func TestParseStat(t *testing.T) {
	tail := " 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23"
	tests := []struct {
		name    string
		in      string
		want    procStat
		wantErr bool
	}{
		{name: "plain", in: "42 (sleep) S 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 123456 5 6",
			want: procStat{pid: 42, state: 'S', pgrp: 42, startTicks: 123456}},
		{name: "spaces and parentheses in the name", in: "7 (a) b (c)) Z 1 9 9 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 99" + tail,
			want: procStat{pid: 7, state: 'Z', pgrp: 9, startTicks: 99}},
		{name: "too short", in: "7 (x) S 1 2 3", wantErr: true},
		{name: "no name", in: "7 x S 1 2 3", wantErr: true},
		{name: "bad start", in: "42 (sleep) S 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 x 5 6", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStat([]byte(tt.in))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parseStat = %+v, want an error", got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseStat = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestReadStatSelf(t *testing.T) {
	s, err := readStat(os.Getpid())
	if err != nil {
		t.Fatalf("readStat(self): %v", err)
	}
	if s.pid != os.Getpid() || s.startTicks == 0 || s.dead() {
		t.Fatalf("readStat(self) = %+v", s)
	}
	if !processAlive(s.pid, s.startTicks) {
		t.Error("processAlive(self) = false")
	}
	if processAlive(s.pid, s.startTicks+1) {
		t.Error("processAlive(self, other start time) = true")
	}
	if processAlive(0, 0) {
		t.Error("processAlive(0) = true")
	}
}
