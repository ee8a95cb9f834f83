// Package nixtest gives tests access to the real Nix tools and to the shared
// test corpus built by make-bucket.
//
// Tests that need Nix call Require. Outside CI a missing Nix skips the test;
// under CI (the CI environment variable is set) it fails it, so a machine that
// lost its install step cannot pass by skipping.
package nixtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Require makes sure the named Nix tools (default: nix-store and nix) are on
// PATH. It skips the test when they are not, or fails it under CI.
func Require(t testing.TB, tools ...string) {
	t.Helper()
	if len(tools) == 0 {
		tools = []string{"nix-store", "nix"}
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			missing(t, fmt.Sprintf("%s not found on PATH (install Debian package nix-bin)", tool))
		}
	}
}

// RequireTool makes sure a program other than Nix (xz, zstd, …) is on
// PATH. It skips the test when it is not, or fails it under CI.
func RequireTool(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		missing(t, fmt.Sprintf("%s not found on PATH", name))
	}
}

// Run runs a program with env and stdin and returns its standard output,
// failing the test with its standard error when it fails.
func Run(t testing.TB, env []string, stdin []byte, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = env
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// Get fetches url (from a test server) and fails the test unless it
// answers 200 in full.
func Get(t testing.TB, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d; want 200\n%s", url, resp.StatusCode, body)
	}
	return body
}

// Field returns the value of key in the narinfo text Nix wrote ("" when
// it has none).
func Field(narinfo []byte, key string) string {
	for line := range strings.SplitSeq(string(narinfo), "\n") {
		if v, ok := strings.CutPrefix(line, key+": "); ok {
			return v
		}
	}
	return ""
}

func missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(why)
	}
	t.Skip(why)
}

// Env returns an environment for running Nix commands against a private
// store rooted at dir: no daemon, no substituters, a fresh cache directory.
func Env(dir string) []string {
	env := os.Environ()
	return append(env,
		"NIX_REMOTE=local?root="+dir,
		"XDG_CACHE_HOME="+filepath.Join(dir, "cache"),
		"NIX_CONFIG=experimental-features = nix-command\nsubstituters =\nsandbox = false\n",
	)
}

// RepoRoot returns the directory holding the module's go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// Corpus returns the directory of a make-bucket corpus ("small" or
// "medium"), building it on first use. Corpora are kept under
// $NARDEDUP_CORPUS_DIR (default /var/tmp/nardedup-corpus) so one CI run or
// one developer machine builds each only once. The corpus has DIR/bucket,
// DIR/gen-K, DIR/gen-K.paths and DIR/public-key (see the make-bucket README).
func Corpus(t testing.TB, size string, generations int) string {
	t.Helper()
	Require(t)
	base := os.Getenv("NARDEDUP_CORPUS_DIR")
	if base == "" {
		base = "/var/tmp/nardedup-corpus"
	}
	dir := filepath.Join(base, fmt.Sprintf("%s-%d", size, generations))
	if _, err := os.Stat(filepath.Join(dir, "READY")); err == nil {
		return dir
	}
	script := os.Getenv("NARDEDUP_MAKE_BUCKET")
	if script == "" {
		script = filepath.Join(RepoRoot(t), "..", "shared", "corpus", "make-bucket")
	}
	if _, err := os.Stat(script); err != nil {
		missing(t, fmt.Sprintf("make-bucket not found at %s (set NARDEDUP_MAKE_BUCKET)", script))
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		t.Fatal(err)
	}
	// Test binaries of several packages run at once and may all want the
	// corpus: one builds it, the others wait for it under this lock.
	unlock := lockFile(t, dir+".lock")
	defer unlock()
	if _, err := os.Stat(filepath.Join(dir, "READY")); err == nil {
		return dir
	}
	cmd := exec.Command("python3", script, "--out", dir, "--size", size,
		"--generations", fmt.Sprint(generations), "--seed", "1",
		"--key-dir", filepath.Join(base, "keys"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make-bucket: %v\n%s", err, tail(string(out), 40))
	}
	return dir
}

// lockFile takes an exclusive lock on the file at path (created) and
// returns its release.
func lockFile(t testing.TB, path string) (unlock func()) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatalf("lock %s: %v", path, err)
	}
	return func() { f.Close() }
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Copy has real Nix copy paths from a binary cache (an http:// substituter
// or a file:// cache) into a fresh store, with signatures required and
// checked against key, then has Nix re-hash every copied path. It fails the
// test on any error.
func Copy(t testing.TB, from, key string, paths []string) {
	t.Helper()
	Require(t, "nix")
	dir := t.TempDir()
	store := filepath.Join(dir, "store")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	env := append(os.Environ(), "XDG_CACHE_HOME="+filepath.Join(dir, "cache"), "NIX_REMOTE=")
	args := append([]string{"--extra-experimental-features", "nix-command", "copy",
		"--from", from, "--to", store,
		"--option", "trusted-public-keys", key, "--option", "require-sigs", "true",
		"--option", "narinfo-cache-negative-ttl", "0"}, paths...)
	cmd := exec.CommandContext(ctx, "nix", args...)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nix copy --from %s: %v\n%s", from, err, out)
	}
	verify := exec.CommandContext(ctx, "nix", append([]string{"--extra-experimental-features", "nix-command",
		"store", "verify", "--store", store, "--no-trust"}, paths...)...)
	verify.Env = env
	if out, err := verify.CombinedOutput(); err != nil {
		t.Fatalf("nix store verify after copying from %s: %v\n%s", from, err, out)
	}
}

// Nardedup builds the nardedup command into a temporary directory and
// returns its path.
func Nardedup(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "nardedup")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/nardedup/nardedup/cmd/nardedup")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// Serve starts "bin serve" on a free loopback port with the given
// environment (nil: the test's own) and extra arguments, stops it when the
// test ends, and returns its URL once /nix-cache-info answers. The server's
// log is shown if it does not start or the test fails.
func Serve(t testing.TB, bin string, env []string, args ...string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, append([]string{"serve", "--listen", addr}, args...)...)
	cmd.Env = env
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		if t.Failed() {
			t.Logf("nardedup serve log:\n%s", logs.String())
		}
	})
	base := "http://" + addr
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(base + "/nix-cache-info"); err == nil {
			resp.Body.Close()
			return base
		}
	}
	t.Fatalf("nardedup serve did not answer on %s:\n%s", addr, logs.String())
	return ""
}

// syncBuffer is a bytes.Buffer safe for a process's writes and a test's
// reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
