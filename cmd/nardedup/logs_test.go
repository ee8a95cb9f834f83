package main_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/internal/nixtest"
)

// builtWithLog returns an output path of the system store whose build
// log the system store holds, or skips the test.
func builtWithLog(t *testing.T) string {
	t.Helper()
	logs, _ := filepath.Glob("/nix/var/log/nix/drvs/*/*.drv.bz2")
	for _, l := range logs {
		drv := "/nix/store/" + filepath.Base(filepath.Dir(l)) + strings.TrimSuffix(filepath.Base(l), ".bz2")
		if _, err := os.Stat(drv); err != nil {
			continue
		}
		for _, out := range strings.Fields(string(nixtest.Run(t, nil, nil, "nix-store", "-q", "--outputs", drv))) {
			if _, err := os.Stat(out); err == nil {
				return out
			}
		}
	}
	t.Skip("no store path with a build log in the system store")
	return ""
}

// TestBuildLogsWithNix has real Nix write a build log to a file://
// cache (nix store copy-log --to), ingests the cache, and reads the log
// back with nix log --store from the server; then pushes the same log
// with nix store copy-log --to http:// into a second server and exports
// that: every copy equals what Nix wrote.
func TestBuildLogsWithNix(t *testing.T) {
	nixtest.Require(t)
	out := builtWithLog(t)
	bin := nixtest.Nardedup(t)
	work := t.TempDir()
	env := append(os.Environ(), "XDG_CACHE_HOME="+filepath.Join(work, "xdg"),
		"NIX_CONFIG=experimental-features = nix-command\nsubstituters =\n")
	want := nixtest.Run(t, env, nil, "nix-store", "-l", out)

	cache := filepath.Join(work, "cache")
	nixtest.Run(t, env, nil, "nix", "copy", "--to", "file://"+cache+"?compression=none", out)
	nixtest.Run(t, env, nil, "nix", "store", "copy-log", "--to", "file://"+cache, out)
	logs, _ := filepath.Glob(filepath.Join(cache, "log", "*.drv"))
	if len(logs) != 1 {
		t.Fatalf("nix store copy-log wrote %v", logs)
	}
	written, err := os.ReadFile(logs[0])
	must(t, err)
	if !bytes.Equal(written, want) {
		t.Fatalf("nix store copy-log --to file:// wrote %d bytes, nix-store -l shows %d", len(written), len(want))
	}
	repo1 := []string{"--repo", filepath.Join(work, "repo1"), "--index-cache", filepath.Join(work, "idx1")}
	if o := mustRun(t, bin, append(append([]string{"ingest"}, repo1...), cache)...); !strings.Contains(o, "build logs:    1 new") {
		t.Errorf("ingest summary does not count the build log:\n%s", o)
	}
	url := nixtest.Serve(t, bin, nil, repo1...)
	if got := nixtest.Run(t, env, nil, "nix", "log", "--store", url, out); !bytes.Equal(got, want) {
		t.Errorf("nix log --store %s: %d bytes, want the %d bytes of the log", url, len(got), len(want))
	}

	// Pushed with nix store copy-log --to http://, exported back.
	repo2 := []string{"--repo", filepath.Join(work, "repo2"), "--index-cache", filepath.Join(work, "idx2")}
	mustRun(t, bin, append(append([]string{"ingest"}, repo2...), filepath.Join(nixtest.RepoRoot(t), "testdata", "sample", "bucket"))...)
	tokens, netrc := filepath.Join(work, "tokens"), filepath.Join(work, "netrc")
	writeFile(t, tokens, "log-token-1\n")
	writeFile(t, netrc, "machine 127.0.0.1 login nix password log-token-1\n")
	url2 := nixtest.Serve(t, bin, nil, append(repo2, "--upload-token", tokens)...)
	nixtest.Run(t, env, nil, "nix", "copy", "--option", "netrc-file", netrc, "--to", url2, out)
	nixtest.Run(t, env, nil, "nix", "store", "copy-log", "--option", "netrc-file", netrc, "--to", url2, out)
	if got := nixtest.Run(t, env, nil, "nix", "log", "--store", url2, out); !bytes.Equal(got, want) {
		t.Errorf("nix log --store %s after a push: %d bytes, want %d", url2, len(got), len(want))
	}
	exported := filepath.Join(work, "export")
	mustRun(t, bin, append([]string{"export", "--to", exported}, repo2...)...)
	got, err := os.ReadFile(filepath.Join(exported, "log", filepath.Base(logs[0])))
	if err != nil || !bytes.Equal(got, written) {
		t.Errorf("exported log: %d bytes (%v), want the %d bytes nix wrote", len(got), err, len(written))
	}
}
