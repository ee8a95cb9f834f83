package local_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/local"
)

func TestHostileKeysRejected(t *testing.T) {
	parent := t.TempDir()
	b, err := local.Open(filepath.Join(parent, "repo"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	keys := []string{
		"../escape", "../../escape", "a/../../escape", "/tmp/escape", "..",
		"a\\..\\..\\escape", "a\x00b", "a//b", "./a", "",
		local.TempPrefix + "x", "dir/" + local.TempPrefix + "x",
	}
	for _, key := range keys {
		if err := backend.PutBytes(ctx, b, key, []byte("x")); !errors.Is(err, backend.ErrInvalidKey) {
			t.Errorf("Put(%q): %v, want ErrInvalidKey", key, err)
		}
		if _, err := b.Get(ctx, key, 0, -1); !errors.Is(err, backend.ErrInvalidKey) {
			t.Errorf("Get(%q): %v, want ErrInvalidKey", key, err)
		}
		if _, err := b.Stat(ctx, key); !errors.Is(err, backend.ErrInvalidKey) {
			t.Errorf("Stat(%q): %v, want ErrInvalidKey", key, err)
		}
		if err := b.Delete(ctx, key); !errors.Is(err, backend.ErrInvalidKey) {
			t.Errorf("Delete(%q): %v, want ErrInvalidKey", key, err)
		}
	}
	entries, err := os.ReadDir(parent)
	if err != nil || len(entries) != 1 {
		t.Fatalf("parent of the repository holds %v (%v), want only repo", entries, err)
	}
}

// plantLinks makes a repository whose directory holds symbolic links
// pointing outside it, next to a directory "outside" with a file "secret".
func plantLinks(t *testing.T) (b *local.Backend, outside string) {
	t.Helper()
	parent := t.TempDir()
	outside = filepath.Join(parent, "outside")
	repo := filepath.Join(parent, "repo")
	for _, d := range []string{outside, repo} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{
		"abs":  outside,
		"rel":  "../outside",
		"file": filepath.Join(outside, "secret"),
		"relf": "../outside/secret",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(repo, name)); err != nil {
			t.Fatal(err)
		}
	}
	b, err := local.Open(repo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, outside
}

func TestSymlinksCannotEscape(t *testing.T) {
	b, outside := plantLinks(t)
	ctx := context.Background()
	for _, key := range []string{"abs/secret", "rel/secret", "file", "relf"} {
		if data, err := backend.ReadAll(ctx, b, key); err == nil {
			t.Errorf("Get(%q) read %q from outside the repository", key, data)
		}
		if _, err := b.Stat(ctx, key); err == nil {
			t.Errorf("Stat(%q) succeeded through a link", key)
		}
		if err := b.Delete(ctx, key); err == nil {
			t.Errorf("Delete(%q) succeeded through a link", key)
		}
	}
	for _, key := range []string{"abs/new", "rel/new", "rel/sub/new"} {
		if err := backend.PutBytes(ctx, b, key, []byte("x")); err == nil {
			t.Errorf("Put(%q) succeeded through a link", key)
		}
	}
	entries, _ := os.ReadDir(outside)
	if len(entries) != 1 || entries[0].Name() != "secret" {
		t.Fatalf("outside directory now holds %v", entries)
	}
	for _, prefix := range []string{"", "abs/", "rel/", "file", "relf"} {
		err := b.List(ctx, prefix, func(info backend.Info) error {
			t.Errorf("List(%q) reported %q", prefix, info.Key)
			return nil
		})
		if err != nil {
			t.Errorf("List(%q): %v", prefix, err)
		}
	}
}

func TestFileDirectoryConflict(t *testing.T) {
	b := openLocal(t)
	defer b.Close()
	ctx := context.Background()
	if err := backend.PutBytes(ctx, b, "a", []byte("a")); err != nil {
		t.Fatal(err)
	}
	err := backend.PutBytes(ctx, b, "a/b", []byte("b"))
	if err == nil || errors.Is(err, backend.ErrNotExist) || !strings.Contains(err.Error(), "a/b") {
		t.Fatalf("Put(a/b) under object a: %v; want a plain error naming the key", err)
	}
	if err := backend.PutBytes(ctx, b, "c/d", []byte("d")); err != nil {
		t.Fatal(err)
	}
	if err := backend.PutBytes(ctx, b, "c", []byte("c")); err == nil {
		t.Fatal("Put(c) over directory c succeeded")
	}
	if err := b.Delete(ctx, "c"); !errors.Is(err, backend.ErrNotExist) {
		t.Fatalf("Delete(c) of a directory: %v, want ErrNotExist", err)
	}
	for key, want := range map[string]string{"a": "a", "c/d": "d"} {
		if got, err := backend.ReadAll(ctx, b, key); err != nil || string(got) != want {
			t.Errorf("ReadAll(%s) = %q, %v; want %q", key, got, err, want)
		}
	}
	if left := tempFiles(t, b.Dir()); len(left) > 0 {
		t.Fatalf("temporary files left: %q", left)
	}
}

func TestTempFilesHiddenAndRemoved(t *testing.T) {
	b := openLocal(t)
	defer b.Close()
	ctx := context.Background()
	if err := backend.PutBytes(ctx, b, "packs/obj", []byte("x")); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(b.Dir(), "packs", local.TempPrefix+"stale")
	fresh := filepath.Join(b.Dir(), local.TempPrefix+"fresh")
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	var listed []string
	if err := b.List(ctx, "", func(i backend.Info) error { listed = append(listed, i.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(listed) != 1 || listed[0] != "packs/obj" {
		t.Fatalf("List = %q, want only packs/obj", listed)
	}
	n, err := b.RemoveTemp(ctx, time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("RemoveTemp = %d, %v; want 1, nil", n, err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale temporary file still there: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("fresh temporary file removed: %v", err)
	}
}
