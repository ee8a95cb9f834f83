package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nardedup/nardedup/server"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// observed serves the repository through Observe, with its metrics on reg
// and its log lines, in JSON, in logs.
func (r *repo) observed(tb testing.TB, opts server.Options, oopts server.ObserveOptions) (ts *httptest.Server, reg *prometheus.Registry, logs *bytes.Buffer) {
	tb.Helper()
	logs = new(bytes.Buffer)
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	reg = prometheus.NewRegistry()
	opts.Logger, oopts.Logger, oopts.Metrics = log, log, reg
	h, err := server.Observe(server.New(r.st, opts), oopts)
	check(tb, err)
	ts = httptest.NewServer(h)
	tb.Cleanup(ts.Close)
	return ts, reg, logs
}

func TestObserveMetrics(t *testing.T) {
	r := newRepo(t)
	ts, reg, _ := r.observed(t, server.Options{Compression: "none"}, server.ObserveOptions{})
	u := r.largest(t)
	name := narName(t, u.ni)
	get := func(path string, want int) int64 {
		t.Helper()
		resp, body, err := fetch(t, http.MethodGet, ts.URL+path)
		check(t, err)
		if resp.StatusCode != want {
			t.Fatalf("GET %s: got status %d; want %d", path, resp.StatusCode, want)
		}
		return int64(len(body))
	}
	infoBytes := get("/nix-cache-info", 200)
	get("/"+u.hash+".narinfo", 200)
	get("/"+u.hash+".narinfo", 200)
	get("/00000000000000000000000000000000.narinfo", 404)
	narBytes := get("/nar/"+name+".nar", 200)
	req, err := http.NewRequest(http.MethodGet, ts.URL+"/nar/"+name+".nar", nil)
	check(t, err)
	req.Header.Set("Range", "bytes=0-99")
	resp, err := http.DefaultClient.Do(req)
	check(t, err)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent {
		t.Fatalf("GET a range of NAR %s: got status %d; want 206", name, resp.StatusCode)
	}
	get("/"+u.hash+".ls", 200)
	get("/nar/"+name+".nar.zst", 200)
	get("/nope", 404)
	if narBytes != int64(u.ni.NarSize) {
		t.Fatalf("NAR of %s: got %d bytes; want %d", u.hash, narBytes, u.ni.NarSize)
	}

	for _, c := range []struct {
		route, code string
		want        float64
	}{
		{"nix-cache-info", "200", 1}, {"narinfo", "200", 2}, {"narinfo", "404", 1},
		{"nar", "200", 1}, {"nar", "206", 1}, {"nar.zst", "200", 1}, {"ls", "200", 1}, {"other", "404", 1},
	} {
		got := value(t, reg, "nardedup_http_requests_total", map[string]string{"route": c.route, "code": c.code})
		if got != c.want {
			t.Errorf("requests of %s answered %s: got %v; want %v", c.route, c.code, got, c.want)
		}
	}
	want := `
# HELP nardedup_http_not_found_total Requests answered 404, by route; a narinfo's is a cache miss.
# TYPE nardedup_http_not_found_total counter
nardedup_http_not_found_total{route="healthz"} 0
nardedup_http_not_found_total{route="log"} 0
nardedup_http_not_found_total{route="ls"} 0
nardedup_http_not_found_total{route="nar"} 0
nardedup_http_not_found_total{route="nar.zst"} 0
nardedup_http_not_found_total{route="narinfo"} 1
nardedup_http_not_found_total{route="nix-cache-info"} 0
nardedup_http_not_found_total{route="other"} 1
nardedup_http_not_found_total{route="readyz"} 0
nardedup_http_not_found_total{route="realisation"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "nardedup_http_not_found_total"); err != nil {
		t.Error(err)
	}
	for route, want := range map[string]int64{"nar": narBytes + 100, "nix-cache-info": infoBytes} {
		if got := value(t, reg, "nardedup_http_response_bytes_total", map[string]string{"route": route}); got != float64(want) {
			t.Errorf("response bytes of %s: got %v; want %d", route, got, want)
		}
	}
	streams := map[string]uint64{}
	mfs, err := reg.Gather()
	check(t, err)
	for _, mf := range mfs {
		if mf.GetName() == "nardedup_nar_stream_duration_seconds" {
			for _, m := range mf.GetMetric() {
				streams[m.GetLabel()[0].GetValue()] = m.GetHistogram().GetSampleCount()
			}
		}
	}
	if want := map[string]uint64{"none": 2, "zstd": 1}; !maps.Equal(streams, want) {
		t.Errorf("NAR streams timed, by compression: got %v; want %v (a whole NAR and a range, a compressed one)", streams, want)
	}
	if got := value(t, reg, "nardedup_http_requests_in_flight", map[string]string{}); got != 0 {
		t.Errorf("requests in flight after all answered: got %v; want 0", got)
	}
}

// value returns the value of the counter or gauge name with labels.
func value(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	v := -1.0
	gatherEach(t, reg, name, func(got map[string]string, x float64) {
		if maps.Equal(got, labels) {
			v = x
		}
	})
	if v < 0 {
		t.Fatalf("no %s%v", name, labels)
	}
	return v
}

func gatherEach(t *testing.T, reg *prometheus.Registry, name string, fn func(map[string]string, float64)) {
	t.Helper()
	mfs, err := reg.Gather()
	check(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			fn(labels, m.GetCounter().GetValue()+m.GetGauge().GetValue())
		}
	}
}

func TestHealthOutsideAuth(t *testing.T) {
	r := newRepo(t)
	auth := &server.Auth{}
	auth.AddToken("secret")
	var calls atomic.Int32
	var fail atomic.Bool
	ready := func(context.Context) error {
		calls.Add(1)
		if fail.Load() {
			return errors.New("bucket gone")
		}
		return nil
	}
	ts, _, _ := r.observed(t, server.Options{Auth: auth}, server.ObserveOptions{Ready: ready, ReadyTTL: time.Hour})
	status := func(path string) int {
		t.Helper()
		resp, _, err := fetch(t, http.MethodGet, ts.URL+path)
		check(t, err)
		return resp.StatusCode
	}
	if got := status("/nix-cache-info"); got != http.StatusUnauthorized {
		t.Fatalf("/nix-cache-info without credentials: got %d; want 401", got)
	}
	for range 3 {
		if got := status("/healthz"); got != http.StatusOK {
			t.Errorf("/healthz: got %d; want 200", got)
		}
		if got := status("/readyz"); got != http.StatusOK {
			t.Errorf("/readyz: got %d; want 200", got)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("readiness checks for 3 probes within the TTL: got %d; want 1", n)
	}

	// A failing repository, with a TTL that lets each probe check.
	fail.Store(true)
	ts, _, logs := r.observed(t, server.Options{Auth: auth}, server.ObserveOptions{Ready: ready, ReadyTTL: time.Nanosecond})
	if got := status("/readyz"); got != http.StatusServiceUnavailable {
		t.Errorf("/readyz with the repository failing: got %d; want 503", got)
	}
	if got := status("/healthz"); got != http.StatusOK {
		t.Errorf("/healthz with the repository failing: got %d; want 200", got)
	}
	if !strings.Contains(logs.String(), "bucket gone") {
		t.Errorf("log does not say why the repository is not ready:\n%s", logs)
	}
}

func TestAccessLog(t *testing.T) {
	r := newRepo(t)
	ts, _, logs := r.observed(t, server.Options{}, server.ObserveOptions{})
	u := r.largest(t)
	resp, body, err := fetch(t, http.MethodGet, ts.URL+"/"+u.hash+".narinfo")
	check(t, err)
	if resp.StatusCode != 200 {
		t.Fatalf("narinfo %s: got status %d", u.hash, resp.StatusCode)
	}
	fetch(t, http.MethodGet, ts.URL+"/00000000000000000000000000000000.narinfo")
	var lines []map[string]any
	for line := range strings.Lines(logs.String()) {
		var m map[string]any
		check(t, json.Unmarshal([]byte(line), &m))
		if m["msg"] == "request" {
			lines = append(lines, m)
		}
	}
	if len(lines) != 2 {
		t.Fatalf("access log: got %d request lines; want 2:\n%s", len(lines), logs)
	}
	first := lines[0]
	for k, want := range map[string]any{"level": "INFO", "method": "GET", "path": "/" + u.hash + ".narinfo",
		"status": 200.0, "bytes": float64(len(body))} {
		if first[k] != want {
			t.Errorf("access log %s: got %v; want %v", k, first[k], want)
		}
	}
	if c, _ := first["client"].(string); !strings.HasPrefix(c, "127.0.0.1:") {
		t.Errorf("access log client: got %v; want 127.0.0.1:PORT", first["client"])
	}
	if _, ok := first["duration"].(float64); !ok {
		t.Errorf("access log duration: got %v; want a number", first["duration"])
	}
	if lines[1]["status"] != 404.0 {
		t.Errorf("access log of a missing narinfo: status %v; want 404", lines[1]["status"])
	}
}

// BenchmarkObserveNarInfo GETs a narinfo through a loopback connection,
// from the Server alone and through Observe with its metrics and an
// access log (to a discarded JSON handler): the difference is what
// observing costs a request.
func BenchmarkObserveNarInfo(b *testing.B) {
	r := newRepo(b)
	u := r.largest(b)
	plain := r.serve(b, server.Options{})
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	h, err := server.Observe(server.New(r.st, server.Options{Logger: log}), server.ObserveOptions{Logger: log, Metrics: prometheus.NewRegistry()})
	check(b, err)
	observed := httptest.NewServer(h)
	b.Cleanup(observed.Close)
	for _, ts := range []struct {
		name string
		srv  *httptest.Server
	}{{"plain", plain}, {"observed", observed}} {
		b.Run(ts.name, func(b *testing.B) {
			client, url := ts.srv.Client(), ts.srv.URL+"/"+u.hash+".narinfo"
			b.ReportAllocs()
			for b.Loop() {
				resp, err := client.Get(url)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("GET %s: %d", url, resp.StatusCode)
				}
			}
		})
	}
}

// A NAR download cut off by its client is counted as aborted and logged
// so, and the abort still reaches net/http, which closes the connection.
func TestObserveAbortedNAR(t *testing.T) {
	r := newRepo(t)
	_, name := r.putBigNAR(t, 24<<20)
	ts, reg, logs := r.observed(t, server.Options{Compression: "none"}, server.ObserveOptions{})
	u, err := url.Parse(ts.URL)
	check(t, err)
	conn, err := net.Dial("tcp", u.Host)
	check(t, err)
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /nar/%s.nar HTTP/1.1\r\nHost: %s\r\n\r\n", name, u.Host)
	if _, err := io.ReadFull(conn, make([]byte, 8<<10)); err != nil {
		t.Fatalf("reading the start of the response: %v", err)
	}
	conn.Close()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if value(t, reg, "nardedup_nar_streams_aborted_total", map[string]string{"compression": "none"}) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("aborted NAR streams: not 1 10s after the client hung up")
		}
	}
	if got := value(t, reg, "nardedup_http_requests_in_flight", map[string]string{}); got != 0 {
		t.Errorf("requests in flight after the abort: got %v; want 0", got)
	}
	if !strings.Contains(logs.String(), `"aborted":true`) {
		t.Errorf("access log does not mark the download aborted:\n%s", logs)
	}
}
