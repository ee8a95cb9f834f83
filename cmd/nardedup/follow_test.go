package main_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nardedup/nardedup/internal/nixtest"
	"github.com/nardedup/nardedup/internal/sample"
)

// SIGTERM during a pass of ingest --follow stops it after the NAR in
// flight, which is stored, with exit status 0; a run afterwards finds
// that NAR present and ingests the rest.
func TestFollowStopsOnSIGTERM(t *testing.T) {
	bin := nixtest.Nardedup(t)
	work := t.TempDir()
	bucket, err := sample.WriteBucket(filepath.Join(work, "bucket"))
	must(t, err)
	// An HTTP cache whose NARs are slow, so that SIGTERM comes while one
	// is being read.
	var slow atomic.Bool
	slow.Store(true)
	firstNAR := make(chan struct{})
	var once sync.Once
	files := http.FileServer(http.Dir(bucket))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/nar/") && slow.Load() {
			once.Do(func() { close(firstNAR) })
			time.Sleep(time.Second)
		}
		files.ServeHTTP(w, r)
	}))
	defer srv.Close()
	var list bytes.Buffer
	infos, err := filepath.Glob(filepath.Join(bucket, "*.narinfo"))
	must(t, err)
	for _, f := range infos {
		text, err := os.ReadFile(f)
		must(t, err)
		list.WriteString(nixtest.Field(text, "StorePath") + "\n")
	}
	paths := filepath.Join(work, "paths")
	must(t, os.WriteFile(paths, list.Bytes(), 0o644))
	args := []string{"ingest", "--repo", filepath.Join(work, "repo"), "--index-cache", filepath.Join(work, "ic"),
		"--jobs", "1", "--list", paths}

	cmd := exec.Command(bin, append(args, "--follow", "1h", srv.URL)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	must(t, cmd.Start())
	select {
	case <-firstNAR:
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		t.Fatalf("no NAR was asked for\n%s", out.String())
	}
	must(t, cmd.Process.Signal(syscall.SIGTERM))
	if err := cmd.Wait(); err != nil {
		t.Fatalf("ingest --follow after SIGTERM: %v\n%s", err, out.String())
	}
	stored := number(t, out.String(), `(\d+) new NARs`)
	if stored < 1 || stored >= len(infos) || strings.Contains(out.String(), "INTERRUPTED") {
		t.Fatalf("SIGTERM during the first NAR: %d of %d stored\n%s", stored, len(infos), out.String())
	}

	slow.Store(false)
	again := mustRun(t, bin, append(args, srv.URL)...)
	if present := number(t, again, `(\d+) already present`); present < stored {
		t.Errorf("after the stop, %d store paths already present; want at least the %d stored\n%s", present, stored, again)
	}
	mustRun(t, bin, "verify", "--repo", filepath.Join(work, "repo"), "--index-cache", filepath.Join(work, "ic"))
}
