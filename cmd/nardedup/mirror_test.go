package main_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nardedup/nardedup/internal/nixtest"
	"github.com/nardedup/nardedup/narfmt/narinfo"
	"github.com/nardedup/nardedup/server"
)

// countingProxy is a reverse proxy to target that counts the bytes of
// the answers it passes on and calls onFrame (if set) on each frame
// request.
type countingProxy struct {
	url     string
	bytes   atomic.Int64
	onFrame atomic.Pointer[func()]
}

func newCountingProxy(t *testing.T, target string) *countingProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	p := &countingProxy{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f := p.onFrame.Load(); f != nil && strings.HasPrefix(r.URL.Path, server.ReadAPIPrefix+"frame/") {
			(*f)()
		}
		rp.ServeHTTP(&countingResponse{ResponseWriter: w, n: &p.bytes}, r)
	}))
	t.Cleanup(ts.Close)
	p.url = ts.URL
	return p
}

type countingResponse struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c *countingResponse) Write(b []byte) (int, error) {
	n, err := c.ResponseWriter.Write(b)
	c.n.Add(int64(n))
	return n, err
}

// fileSizes returns the sum of the FileSize of the narinfos in dir.
func fileSizes(t *testing.T, dir string) int64 {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.narinfo"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no narinfos in %s: %v", dir, err)
	}
	var n int64
	for _, f := range files {
		ni, err := narinfo.Parse(bytes.NewReader([]byte(readFile(t, f))))
		if err != nil {
			t.Fatal(err)
		}
		n += int64(ni.FileSize)
	}
	return n
}

// TestMirrorEndToEnd mirrors generation 1 of the small corpus from a
// served repository through a byte-counting proxy, then generation 2 (a
// mass rebuild), killing the mirror with SIGKILL at its first frame and
// running it again; then real Nix substitutes every path from the
// mirror, and verify, gc and export work on it. It logs the bytes moved
// against the generation's nar.xz.
func TestMirrorEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a corpus with Nix")
	}
	corpus := nixtest.Corpus(t, "small", 3)
	bin := nixtest.Nardedup(t)
	work := t.TempDir()
	up := []string{"--repo", filepath.Join(work, "up"), "--index-cache", filepath.Join(work, "cache")}
	mir := []string{"--repo", filepath.Join(work, "mirror"), "--index-cache", filepath.Join(work, "cache")}
	key := strings.TrimSpace(readFile(t, filepath.Join(corpus, "public-key")))

	mustRun(t, bin, append([]string{"ingest"}, append(up, filepath.Join(corpus, "gen-1"))...)...)
	proxy := newCountingProxy(t, serve(t, bin, up...))
	mirrorArgs := append([]string{"mirror", "--from", proxy.url}, mir...)
	out := mustRun(t, bin, mirrorArgs...)
	t.Log(out)
	gen1 := proxy.bytes.Load()
	// Not on a terminal, progress comes as log lines: at least the last.
	if !regexp.MustCompile(`mirror: \d+ store paths, [0-9.]+ MiB of NAR`).MatchString(out) {
		t.Errorf("mirror printed no progress line:\n%s", out)
	}

	for gen := 2; gen <= 3; gen++ {
		mustRun(t, bin, append([]string{"ingest"}, append(up, filepath.Join(corpus, fmt.Sprintf("gen-%d", gen)))...)...)
		proxy.bytes.Store(0)
		if gen == 3 {
			// Killed at its first frame, then run again.
			cmd := exec.Command(bin, mirrorArgs...)
			var once atomic.Bool
			kill := func() {
				if once.CompareAndSwap(false, true) {
					cmd.Process.Signal(syscall.SIGKILL)
				}
			}
			proxy.onFrame.Store(&kill)
			out, err := cmd.CombinedOutput()
			proxy.onFrame.Store(nil)
			if err == nil || !once.Load() {
				t.Fatalf("mirror was not killed (%v):\n%s", err, out)
			}
		}
		out := mustRun(t, bin, mirrorArgs...)
		moved, xz := proxy.bytes.Load(), fileSizes(t, filepath.Join(corpus, fmt.Sprintf("gen-%d", gen)))
		t.Logf("generation %d: %d bytes moved for %d bytes of nar.xz (%.2f%%); generation 1 moved %d\n%s",
			gen, moved, xz, 100*float64(moved)/float64(xz), gen1, out)
		if moved > xz/20 {
			t.Errorf("generation %d moved %d bytes, more than 5%% of its nar.xz (%d)", gen, moved, xz)
		}
	}

	paths := readPaths(t, filepath.Join(corpus, "gen-1.paths"), filepath.Join(corpus, "gen-2.paths"), filepath.Join(corpus, "gen-3.paths"))
	t.Log(mustRun(t, bin, append([]string{"verify"}, mir...)...))
	nixtest.Copy(t, serve(t, bin, mir...), key, paths)
	t.Log(mustRun(t, bin, append([]string{"gc", "--grace", "0s"}, mir...)...))
	export := filepath.Join(work, "export")
	mustRun(t, bin, append([]string{"export", "--to", export}, mir...)...)
	nixtest.Copy(t, "file://"+export, key, paths)

	// --follow stops cleanly on SIGTERM.
	cmd := exec.Command(bin, append(mirrorArgs, "--follow", "100ms")...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("mirror --follow after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("mirror --follow did not stop on SIGTERM:\n%s", logs.String())
	}
}
