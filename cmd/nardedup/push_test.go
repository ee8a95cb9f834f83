package main_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nardedup/nardedup/internal/nixtest"
)

// TestPushWithNix has real Nix push signed store paths into "nardedup
// serve" (nix copy --to, with the upload token in a netrc file), then copy
// them from it into a fresh store with signatures required: by the pushed
// signatures, and by the server's own (--sign-key).
func TestPushWithNix(t *testing.T) {
	nixtest.Require(t)
	bin := nixtest.Nardedup(t)
	work := t.TempDir()
	common := []string{"--repo", filepath.Join(work, "repo"), "--index-cache", filepath.Join(work, "cache")}
	mustRun(t, bin, append([]string{"ingest"}, append(common, filepath.Join(nixtest.RepoRoot(t), "testdata", "sample", "bucket"))...)...)

	// Two store paths in a private store, signed by a key of our own.
	src := filepath.Join(work, "src")
	env := nixtest.Env(src)
	sk, pk := filepath.Join(work, "sk"), filepath.Join(work, "pk")
	nixtest.Run(t, nil, nil, "nix-store", "--generate-binary-cache-key", "push-test-1", sk, pk)
	tree := filepath.Join(work, "tree")
	writeFile(t, filepath.Join(tree, "bin", "hello"), "#!/bin/sh\necho hello from a pushed path\n")
	writeFile(t, filepath.Join(tree, "share", "doc"), strings.Repeat("documentation line\n", 5000))
	must(t, os.Chmod(filepath.Join(tree, "bin", "hello"), 0o755))
	must(t, os.Symlink("bin/hello", filepath.Join(tree, "hello")))
	writeFile(t, filepath.Join(work, "note.txt"), "a second pushed path\n")
	var paths []string
	for _, p := range []string{tree, filepath.Join(work, "note.txt")} {
		paths = append(paths, strings.TrimSpace(string(nixtest.Run(t, env, nil, "nix-store", "--add", p))))
	}
	nixtest.Run(t, env, nil, "nix", append([]string{"store", "sign", "--key-file", sk}, paths...)...)

	token := "push-token-0123"
	tokens := filepath.Join(work, "upload-tokens")
	writeFile(t, tokens, token+"\n")
	// The server adds a signature of its own, with a key of its own.
	serverSK, serverPK := filepath.Join(work, "server-sk"), filepath.Join(work, "server-pk")
	nixtest.Run(t, nil, nil, "nix-store", "--generate-binary-cache-key", "push-server-1", serverSK, serverPK)
	url := nixtest.Serve(t, bin, nil, append(common, "--upload-token", tokens, "--sign-key", serverSK,
		"--upload-require-sigs", strings.TrimSpace(readFile(t, pk)))...)
	netrc := filepath.Join(work, "netrc")
	writeFile(t, netrc, "machine 127.0.0.1 login nix password "+token+"\n")

	push := func(to string, netrcFile string, paths ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		args := append([]string{"copy", "--to", to, "--option", "netrc-file", netrcFile}, paths...)
		cmd := exec.CommandContext(ctx, "nix", args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	// Without the token Nix is refused, and nothing becomes visible.
	if out, err := push(url, filepath.Join(work, "no-netrc"), paths[1]); err == nil || !strings.Contains(out, "401") {
		t.Fatalf("nix copy --to without credentials: %v; want a 401 error\n%s", err, out)
	}
	// One path xz-compressed (Nix's default), one zstd-compressed.
	if out, err := push(url, netrc, paths[0]); err != nil {
		t.Fatalf("nix copy --to %s: %v\n%s", url, err, out)
	}
	if out, err := push(url+"?compression=zstd", netrc, paths[1]); err != nil {
		t.Fatalf("nix copy --to %s?compression=zstd: %v\n%s", url, err, out)
	}
	// Pushing again is a no-op for Nix, and must not fail.
	if out, err := push(url, netrc, paths...); err != nil {
		t.Fatalf("second nix copy --to %s: %v\n%s", url, err, out)
	}
	nixtest.Copy(t, url, strings.TrimSpace(readFile(t, pk)), paths)
	nixtest.Copy(t, url, strings.TrimSpace(readFile(t, serverPK)), paths)
	t.Log(mustRun(t, bin, append([]string{"verify"}, common...)...))
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Dir(name), 0o755))
	must(t, os.WriteFile(name, []byte(content), 0o644))
}
