package bench_test

import (
	"strings"
	"testing"

	"github.com/nardedup/nardedup/bench"
	"github.com/nardedup/nardedup/bench/report"
)

// limitsReport holds every figure the limits are read from: serve runs at
// 8 clients, ingest and xz -dc CPU, and generation 1 recompressed.
func limitsReport() *bench.Report {
	return &bench.Report{
		Speed: &bench.Speed{
			IngestXZ: bench.Rate{CPU: 30}, XZDecode: bench.Rate{CPU: 20}, XZTool: "/usr/bin/xz",
			Serve: []bench.ServeRow{
				{Server: "nardedup", Clients: 1, MBps: 100},
				{Server: "nardedup", Clients: 8, MBps: 400},
				{Server: "nardedup-warm", Clients: 8, MBps: 950},
				{Server: "static", Clients: 1, MBps: 300},
				{Server: "static", Clients: 8, MBps: 1000},
			},
		},
		Compare:        &bench.Compare{Scopes: []bench.Scope{{Name: "generation 1", XZBytes: 1000 << 20}, {Name: "whole corpus", XZBytes: 4000 << 20}}},
		Recompressed:   []bench.Recompressed{{Scope: "gen-1", Stored: 1020 << 20}, {Scope: "gen-4", Stored: 10}},
		RecompressedXZ: []bench.Recompressed{{Scope: "gen-1", Stored: 900 << 20}, {Scope: "gen-4", Stored: 10}},
	}
}

// TestLimits checks that a report read back derives each limit from the
// figures of its own run, and that the Markdown shows them in one table.
func TestLimits(t *testing.T) {
	data, err := limitsReport().JSON()
	must(t, err)
	rep, err := bench.ParseJSON(data)
	must(t, err)
	want := []struct {
		figure      string
		ratio, goal float64
		met         bool
	}{
		{"serve, server just started, 8 clients", 0.4, 0.8, false},
		{"serve, warm (frames cached), 8 clients", 0.95, 0.9, true},
		{"ingest from nar.xz, CPU seconds", 1.5, 1.4, false},
		{"generation 1 after gc --recompress, zstd frames", 1.02, 0.95, false},
		{"generation 1 after gc --recompress, xz frames", 0.9, 0.95, true},
	}
	if len(rep.Limits) != len(want) {
		t.Fatalf("%d limits, want %d: %+v", len(rep.Limits), len(want), rep.Limits)
	}
	for i, w := range want {
		l := rep.Limits[i]
		if l.Figure != w.figure || l.Ratio < w.ratio-1e-9 || l.Ratio > w.ratio+1e-9 || l.Goal != w.goal || l.Met() != w.met {
			t.Errorf("limit %d: %+v (met %v), want %s ratio %.2f goal %.2f met %v", i, l, l.Met(), w.figure, w.ratio, w.goal, w.met)
		}
	}
	md := report.Markdown(rep)
	for _, row := range []string{
		"## Limits\n",
		"| figure | measured | limit | ratio | goal |\n",
		"| serve, server just started, 8 clients | 400.0 MB/s | static file server, 8 clients: 1000.0 MB/s | **0.40×** | ≥ 0.80× (not met) |\n",
		"| ingest from nar.xz, CPU seconds | 30.0 CPU s | xz -dc over the same files: 20.0 CPU s | **1.50×** | ≤ 1.40× (not met) |\n",
		"| generation 1 after gc --recompress, xz frames | 900.0 MiB | its nar.xz files: 1000.0 MiB | **0.90×** | ≤ 0.95× (met) |\n",
	} {
		if !strings.Contains(md, row) {
			t.Errorf("report.md lacks %q", row)
		}
	}
}

// TestLimitsUnmeasured checks that a figure the run did not measure
// leaves its limit out rather than showing a ratio against nothing.
func TestLimitsUnmeasured(t *testing.T) {
	r := limitsReport()
	r.Speed.Serve = r.Speed.Serve[:3] // no static server
	r.Speed.XZTool = ""               // xz not installed
	r.RecompressedXZ[0].Unavailable = "built without cgo"
	data, err := r.JSON()
	must(t, err)
	rep, err := bench.ParseJSON(data)
	must(t, err)
	if len(rep.Limits) != 1 || rep.Limits[0].Figure != "generation 1 after gc --recompress, zstd frames" {
		t.Errorf("limits %+v, want only the zstd frames", rep.Limits)
	}
	if md := report.Markdown(&bench.Report{}); strings.Contains(md, "## Limits") {
		t.Error("a report without figures has a Limits table")
	}
}
