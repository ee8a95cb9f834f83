package local_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/local"
	"github.com/nardedup/nardedup/internal/faulty"
)

// tempFiles lists the temporary files left below dir.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), local.TempPrefix) {
			found = append(found, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// errAfter yields n bytes of zeros and then err.
type errAfter struct {
	n   int
	err error
}

func (e *errAfter) Read(p []byte) (int, error) {
	if e.n == 0 {
		return 0, e.err
	}
	k := min(len(p), e.n)
	clear(p[:k])
	e.n -= k
	return k, nil
}

// failedPut is a way to make a Put fail, and the error it must wrap.
type failedPut struct {
	name string
	put  func(ctx context.Context, b backend.Backend, key string) error
	want error
}

var errSource = errors.New("source broke")

var failedPuts = []failedPut{
	{"short", func(ctx context.Context, b backend.Backend, key string) error {
		return b.Put(ctx, key, bytes.NewReader(make([]byte, 10)), 11)
	}, backend.ErrSizeMismatch},
	{"long", func(ctx context.Context, b backend.Backend, key string) error {
		return b.Put(ctx, key, bytes.NewReader(make([]byte, 10)), 9)
	}, backend.ErrSizeMismatch},
	{"reader error midway", func(ctx context.Context, b backend.Backend, key string) error {
		return b.Put(ctx, key, &errAfter{n: 100_000, err: errSource}, 200_000)
	}, errSource},
	{"reader error unknown size", func(ctx context.Context, b backend.Backend, key string) error {
		return b.Put(ctx, key, &errAfter{n: 100_000, err: errSource}, -1)
	}, errSource},
	{"cancelled midway", func(ctx context.Context, b backend.Backend, key string) error {
		ctx, cancel := context.WithCancel(ctx)
		r := io.MultiReader(bytes.NewReader(make([]byte, 50_000)), readFunc(func([]byte) (int, error) {
			cancel()
			return 0, nil
		}), bytes.NewReader(make([]byte, 50_000)))
		return b.Put(ctx, key, r, 100_000)
	}, context.Canceled},
	{"disk full midway", func(ctx context.Context, b backend.Backend, key string) error {
		f := faulty.New(b)
		f.Inject(faulty.Rule{Op: faulty.OpPut, Kind: faulty.CutStream, CutAfter: 70_000, Err: faulty.ErrNoSpace})
		return f.Put(ctx, key, bytes.NewReader(make([]byte, 100_000)), 100_000)
	}, syscall.ENOSPC},
}

func TestFailedPutLeavesNothing(t *testing.T) {
	for _, tc := range failedPuts {
		t.Run(tc.name, func(t *testing.T) {
			b := openLocal(t)
			defer b.Close()
			ctx := context.Background()
			if err := backend.PutBytes(ctx, b, "obj/old", []byte("old")); err != nil {
				t.Fatal(err)
			}
			for _, key := range []string{"obj/new", "obj/old", "fresh/dir/new"} {
				err := tc.put(ctx, b, key)
				if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), key) {
					t.Fatalf("Put(%s): %v; want error wrapping %v and naming the key", key, err, tc.want)
				}
			}
			if left := tempFiles(t, b.Dir()); len(left) > 0 {
				t.Fatalf("temporary files left: %q", left)
			}
			for _, key := range []string{"obj/new", "fresh/dir/new"} {
				if _, err := b.Stat(ctx, key); !errors.Is(err, backend.ErrNotExist) {
					t.Errorf("Stat(%s) after failed Put: %v", key, err)
				}
			}
			if got, err := backend.ReadAll(ctx, b, "obj/old"); err != nil || string(got) != "old" {
				t.Errorf("old object after failed overwrite: %q, %v", got, err)
			}
		})
	}
}

type readFunc func([]byte) (int, error)

func (f readFunc) Read(p []byte) (int, error) { return f(p) }

// mountTmpfs mounts a small tmpfs on a new directory, or skips the test.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s); the ENOSPC path is covered by the faulty tests",
			err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

func TestRealDiskFull(t *testing.T) {
	dir := mountTmpfs(t, "1m")
	b, err := local.Open(filepath.Join(dir, "repo"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	const key = "packs/ab/too-big"
	err = backend.PutBytes(ctx, b, key, make([]byte, 2<<20))
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), key) {
		t.Fatalf("Put of 2 MiB into 1 MiB: %v; want ENOSPC naming %s", err, key)
	}
	if !backend.IsPermanent(err) {
		t.Errorf("IsPermanent(%v) = false", err)
	}
	t.Logf("disk full error: %v", err)
	if left := tempFiles(t, dir); len(left) > 0 {
		t.Fatalf("temporary files left: %q", left)
	}
	if _, err := b.Stat(ctx, key); !errors.Is(err, backend.ErrNotExist) {
		t.Fatalf("Stat after failed Put: %v", err)
	}
	if err := backend.PutBytes(ctx, b, "packs/ab/small", make([]byte, 100<<10)); err != nil {
		t.Fatalf("small Put after the failure: %v", err)
	}
}
