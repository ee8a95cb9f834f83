package main_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nardedup/nardedup/internal/nixtest"
	"github.com/nardedup/nardedup/internal/sample"
)

// upstreamCache serves a binary cache directory over HTTP, counting the
// NAR file requests; while held, a NAR file stops after its first half.
type upstreamCache struct {
	ts   *httptest.Server
	mu   sync.Mutex
	nars map[string]int
	held chan struct{} // nil: not held
}

func newUpstreamCache(t *testing.T, dir string) *upstreamCache {
	u := &upstreamCache{nars: make(map[string]int)}
	files := http.FileServer(http.Dir(dir))
	u.ts = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/nar/") {
			files.ServeHTTP(w, r)
			return
		}
		u.mu.Lock()
		u.nars[r.URL.Path]++
		held := u.held
		u.mu.Unlock()
		if held == nil {
			files.ServeHTTP(w, r)
			return
		}
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(r.URL.Path)))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		w.Write(data[:len(data)/2])
		w.(http.Flusher).Flush()
		select {
		case <-held:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(u.ts.Close)
	return u
}

func (u *upstreamCache) counts() map[string]int {
	u.mu.Lock()
	defer u.mu.Unlock()
	m := make(map[string]int, len(u.nars))
	for k, v := range u.nars {
		m[k] = v
	}
	return m
}

// startServe starts "bin serve" on a free port and returns the process
// and its URL once it answers.
func startServe(t *testing.T, bin string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, append([]string{"serve", "--listen", addr, "--max-nar-streams-per-client", "-1"}, args...)...)
	log, err := os.Create(filepath.Join(t.TempDir(), "serve.log"))
	must(t, err)
	cmd.Stdout, cmd.Stderr = log, log
	must(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		if t.Failed() {
			t.Logf("serve log:\n%s", readFile(t, log.Name()))
		}
	})
	base := "http://" + addr
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(base + "/nix-cache-info"); err == nil {
			resp.Body.Close()
			return cmd, base
		}
	}
	t.Fatalf("serve did not answer:\n%s", readFile(t, log.Name()))
	return nil, ""
}

// realise has n copies of real Nix substitute paths, with their closures,
// from url into fresh stores at once, signatures required, and returns
// the first error.
func realise(t *testing.T, n int, url string, paths []string) error {
	t.Helper()
	errs := make(chan error, n)
	for range n {
		dir := t.TempDir()
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			args := append([]string{"--realise", "--option", "substituters", url,
				"--option", "trusted-public-keys", sample.PublicKey(), "--option", "require-sigs", "true",
				"--option", "narinfo-cache-negative-ttl", "0"}, paths...)
			cmd := exec.CommandContext(ctx, "nix-store", args...)
			cmd.Env = append(nixtest.Env(dir), "NIX_CONFIG=experimental-features = nix-command\nsandbox = false\n")
			out, err := cmd.CombinedOutput()
			if err != nil {
				err = fmt.Errorf("nix-store --realise from %s: %v\n%s", url, err, out)
			}
			errs <- err
		}()
	}
	var first error
	for range n {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// TestPullThroughWithNix puts "nardedup serve --upstream" in front of a
// plain binary cache on a real HTTP server and has eight real Nix clients
// substitute one closure through it at once: every NAR crosses from the
// upstream once, none after a restart; a server killed during a pull
// leaves a repository that the same closure then completes and verify
// passes.
func TestPullThroughWithNix(t *testing.T) {
	nixtest.Require(t)
	bin := nixtest.Nardedup(t)
	work := t.TempDir()
	bucket, err := sample.WriteBucket(filepath.Join(work, "bucket"))
	must(t, err)
	empty := filepath.Join(work, "empty")
	writeFile(t, filepath.Join(empty, "nix-cache-info"), "StoreDir: /nix/store\n")
	common := []string{"--repo", filepath.Join(work, "repo"), "--index-cache", filepath.Join(work, "cache")}
	mustRun(t, bin, append([]string{"ingest"}, append(common, empty)...)...)
	up := newUpstreamCache(t, bucket)
	args := append(common, "--upstream", up.ts.URL, "--upstream-public-keys", sample.PublicKey())

	srv, url := startServe(t, bin, args...)
	gen1 := sample.Paths(1)
	if err := realise(t, 8, url, gen1); err != nil {
		t.Fatal(err)
	}
	first := up.counts()
	if len(first) == 0 {
		t.Fatal("no NAR fetched from the upstream")
	}
	for nar, n := range first {
		if n != 1 {
			t.Errorf("upstream %s fetched %d times by eight clients; want once", nar, n)
		}
	}

	// After a restart, the closure comes from the repository alone.
	srv.Process.Signal(os.Interrupt)
	srv.Wait()
	srv, url = startServe(t, bin, args...)
	if err := realise(t, 8, url, gen1); err != nil {
		t.Fatal(err)
	}
	if after := up.counts(); fmt.Sprint(after) != fmt.Sprint(first) {
		t.Errorf("after a restart the upstream served NARs again: %v, before %v", after, first)
	}

	// Killed while pulling the next generation.
	gen3 := sample.Paths(3)
	held := make(chan struct{})
	up.mu.Lock()
	up.held = held
	up.mu.Unlock()
	done := make(chan error, 1)
	go func() { done <- realise(t, 1, url, gen3) }()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if len(up.counts()) > len(first) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no pull of the third generation started")
		}
	}
	must(t, srv.Process.Signal(syscall.SIGKILL))
	srv.Wait()
	<-done // fails: the server is gone
	up.mu.Lock()
	up.held = nil
	up.mu.Unlock()
	close(held)
	_, url = startServe(t, bin, args...)
	if err := realise(t, 1, url, gen3); err != nil {
		t.Fatal(err)
	}
	t.Log(mustRun(t, bin, append([]string{"verify"}, common...)...))
}
