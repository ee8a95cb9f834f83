package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nardedup/nardedup/internal/testrepo"
)

// freeAddr returns a loopback address no one listens on (for a moment).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

// serve --metrics-listen serves metrics on a listener of its own, and
// they count the requests served, with /healthz and /readyz outside
// auth.
func TestServeMetricsAndHealth(t *testing.T) {
	be, _, bucket := testrepo.Sample(t)
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	listen, metricsAddr := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- app().RunContext(ctx, []string{"nardedup", "serve", "--repo", be.Dir(), "--index-cache", filepath.Join(dir, "index"),
			"--listen", listen, "--metrics-listen", metricsAddr, "--auth-token", tokens, "--log-format", "json"})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	base := "http://" + listen
	for deadline := time.Now().Add(20 * time.Second); ; {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("serve did not answer /healthz within 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, _ := httpGet(t, base+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz: got %d; want 200", code)
	}
	matches, _ := filepath.Glob(filepath.Join(bucket, "*.narinfo"))
	if len(matches) == 0 {
		t.Fatal("sample bucket has no narinfo")
	}
	hash := strings.TrimSuffix(filepath.Base(matches[0]), ".narinfo")
	req, _ := http.NewRequest(http.MethodGet, base+"/"+hash+".narinfo", nil)
	req.Header.Set("Authorization", "Bearer secret")
	for range 2 {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("narinfo %s: got %d; want 200", hash, resp.StatusCode)
		}
	}
	if code, _ := httpGet(t, base+"/"+hash+".narinfo"); code != http.StatusUnauthorized {
		t.Errorf("narinfo %s without the token: got %d; want 401", hash, code)
	}

	out := metricsWith(t, metricsAddr,
		`nardedup_http_requests_total{code="200",route="narinfo"} 2`,
		`nardedup_http_requests_total{code="401",route="narinfo"} 1`,
		`nardedup_http_requests_total{code="200",route="readyz"} 1`,
		`nardedup_backend_requests_total{op="stat"}`,
		`nardedup_frame_cache_hits_total 0`,
		`go_goroutines`)
	if code, _ := httpGet(t, base+"/metrics"); code == http.StatusOK {
		t.Error("the cache's listener serves /metrics too; want it on --metrics-listen only")
	}
	if promtool, err := exec.LookPath("promtool"); err == nil {
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader(out)
		if report, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, report)
		}
	}
}

func TestLogFlagsRefused(t *testing.T) {
	for _, args := range [][]string{{"--log-format", "xml"}, {"--log-level", "loud"}} {
		err := app().Run(append([]string{"nardedup", "serve", "--repo", t.TempDir()}, args...))
		if err == nil || !strings.Contains(err.Error(), args[0]) {
			t.Errorf("serve %v: got %v; want an error naming %s", args, err, args[0])
		}
	}
}

// metricsWith returns the text of /metrics at addr once it has every one
// of lines at the start of a line, waiting up to ten seconds: a request
// is counted when its handler returns, which may be just after the
// client has read the whole answer. It reports the lines still missing
// then.
func metricsWith(t *testing.T, addr string, lines ...string) string {
	t.Helper()
	missing := func(out string) []string {
		var m []string
		for _, line := range lines {
			if !strings.Contains(out, "\n"+line) {
				m = append(m, line)
			}
		}
		return m
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		code, out := httpGet(t, "http://"+addr+"/metrics")
		if code != http.StatusOK {
			t.Fatalf("/metrics: got %d; want 200", code)
		}
		m := missing(out)
		if len(m) == 0 {
			return out
		}
		if time.Now().After(deadline) {
			for _, line := range m {
				t.Errorf("/metrics lacks %q", line)
			}
			return out
		}
	}
}
