package metrics_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/cache"
	"github.com/nardedup/nardedup/chunkstore/backend/mem"
	"github.com/nardedup/nardedup/chunkstore/backend/metered"
	"github.com/nardedup/nardedup/gc"
	"github.com/nardedup/nardedup/ingest"
	"github.com/nardedup/nardedup/internal/metrics"
	"github.com/nardedup/nardedup/proxy"
	"github.com/nardedup/nardedup/server"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// TestPromtool checks every metric a command exports with promtool's
// linter, when promtool is installed (Debian package prometheus).
func TestPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (apt-get install prometheus): metrics not linted")
	}
	reg := metrics.NewRegistry()
	be, err := metered.New(mem.New(), reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := backend.PutBytes(ctx, be, "config", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	h, err := server.Observe(http.NotFoundHandler(), server.ObserveOptions{Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/healthz", "/nar/x.nar"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, path, nil))
	}
	in, err := metrics.NewIngest(reg)
	if err != nil {
		t.Fatal(err)
	}
	in.Update(ingest.Stats{NARs: 1, NarBytes: 10})
	g, err := metrics.NewGC(reg)
	if err != nil {
		t.Fatal(err)
	}
	g.Phase("mark")
	g.Done(&gc.Report{})
	if err := metrics.RegisterFrameCache(reg, func() (int64, int64, int64) { return 1, 2, 3 }); err != nil {
		t.Fatal(err)
	}
	if err := metrics.RegisterDiskCache(reg, func() cache.Stats { return cache.Stats{} }); err != nil {
		t.Fatal(err)
	}
	if err := metrics.RegisterProxy(reg, func() proxy.Stats { return proxy.Stats{} }); err != nil {
		t.Fatal(err)
	}

	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	out := rec.Body.String()
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total", "nardedup_backend_requests_total",
		"nardedup_http_requests_total", "nardedup_ingest_store_paths_total", "nardedup_gc_phase", "nardedup_frame_cache_hits_total",
		"nardedup_disk_cache_bytes", "nardedup_proxy_upstream_bytes_total"} {
		if !strings.Contains(out, "\n"+name) {
			t.Errorf("metrics output lacks %s", name)
		}
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(out)
	var report bytes.Buffer
	cmd.Stdout, cmd.Stderr = &report, &report
	if err := cmd.Run(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, report.String())
	}
}
