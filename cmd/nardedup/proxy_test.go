package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nardedup/nardedup/internal/testrepo"
	"github.com/nardedup/nardedup/narfmt/narinfo"
	"github.com/nardedup/nardedup/server"
)

func TestNetrcEntry(t *testing.T) {
	const text = `machine other.example login o password op
machine cache.example
  login alice
  password secret
default login anon password none
`
	for _, tc := range []struct {
		text, host, login, password string
		ok                          bool
	}{
		{text, "cache.example", "alice", "secret", true},
		{text, "other.example", "o", "op", true},
		{text, "unknown.example", "anon", "none", true},
		{"machine a login x password y", "b", "", "", false},
		{"default login d password p\nmachine a login x password y", "b", "d", "p", true},
	} {
		login, password, ok := netrcEntry(tc.text, tc.host)
		if login != tc.login || password != tc.password || ok != tc.ok {
			t.Errorf("netrcEntry(%q, %s) = %q, %q, %v; want %q, %q, %v",
				tc.text, tc.host, login, password, ok, tc.login, tc.password, tc.ok)
		}
	}
}

// basicAuthRemote serves the sample repository, read API included, to
// alice with password secret only, and returns the server, the sample's
// bucket and a netrc file with her credentials for its host.
func basicAuthRemote(t *testing.T) (*httptest.Server, string, string) {
	t.Helper()
	be, rp, bucket := testrepo.Sample(t)
	h := server.New(rp.NARs(), server.Options{Logger: slog.New(slog.DiscardHandler),
		ReadAPI: &server.ReadAPI{Objects: be, Config: rp.Config().NARs}})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "alice" || p != "secret" {
			http.Error(w, "who are you", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(up.Close)
	netrc := filepath.Join(t.TempDir(), "netrc")
	if err := os.WriteFile(netrc, []byte("machine 127.0.0.1 login alice password secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return up, bucket, netrc
}

// proxy reads the upstream's credentials from --upstream-netrc, keeps
// chunks in --cache-dir, answers /healthz and exports on --metrics-listen
// the bytes it received by kind and served.
func TestProxyCommand(t *testing.T) {
	up, bucket, netrc := basicAuthRemote(t)
	dir := t.TempDir()
	listen, metricsAddr := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- app().RunContext(ctx, []string{"nardedup", "proxy", "--upstream", up.URL, "--upstream-netrc", netrc,
			"--cache-dir", filepath.Join(dir, "cache"), "--listen", listen, "--metrics-listen", metricsAddr, "--log-level", "error"})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("proxy: %v", err)
		}
	})
	base := "http://" + listen
	for deadline := time.Now().Add(20 * time.Second); ; {
		if code, _ := httpGetErr(base + "/healthz"); code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("proxy did not answer /healthz within 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	matches, _ := filepath.Glob(filepath.Join(bucket, "*.narinfo"))
	var served int
	for _, m := range matches {
		hash := strings.TrimSuffix(filepath.Base(m), ".narinfo")
		code, text := httpGet(t, base+"/"+hash+".narinfo")
		if code != http.StatusOK {
			t.Fatalf("narinfo %s: %d %s", hash, code, text)
		}
		ni, err := narinfo.Parse(strings.NewReader(text))
		if err != nil {
			t.Fatal(err)
		}
		code, nar := httpGet(t, base+"/"+ni.URL)
		if code != http.StatusOK || uint64(len(nar)) != ni.NarSize {
			t.Fatalf("NAR %s: %d, %d bytes, want %d", ni.URL, code, len(nar), ni.NarSize)
		}
		served += len(nar)
	}
	out := metricsWith(t, metricsAddr,
		`nardedup_proxy_served_bytes_total `+strconv.FormatFloat(float64(served), 'g', -1, 64),
		`nardedup_proxy_upstream_bytes_total{kind="frame"} `,
		`nardedup_http_requests_total{code="200",route="nar"} `+strconv.Itoa(len(matches)))
	if strings.Contains(out, "\n"+`nardedup_proxy_upstream_bytes_total{kind="frame"} 0`+"\n") {
		t.Error("no frame bytes counted")
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "cache", "*", "*")); len(files) == 0 {
		t.Error("no chunk kept in --cache-dir")
	}
}

// httpGetErr returns the status of a GET, 0 if it failed.
func httpGetErr(url string) (int, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// mirror reads the remote's credentials from --from-netrc: every store
// path of a remote that asks for basic auth is mirrored.
func TestMirrorNetrc(t *testing.T) {
	up, bucket, netrc := basicAuthRemote(t)
	dir := t.TempDir()
	repoDir := filepath.Join(dir, "mirror")
	err := app().Run([]string{"nardedup", "mirror", "--from", up.URL, "--from-netrc", netrc, "--repo", repoDir,
		"--index-cache", filepath.Join(dir, "cache"), "--quiet", "--log-level", "error"})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := filepath.Glob(filepath.Join(bucket, "*.narinfo"))
	got, _ := filepath.Glob(filepath.Join(repoDir, "narinfo", "*.narinfo"))
	if len(got) != len(want) || len(want) == 0 {
		t.Errorf("mirror holds %d narinfos; the remote %d", len(got), len(want))
	}
}
