// Package local is a backend.Backend that keeps objects as files in a
// directory on a local file system: the object under key "packs/3f/3fa0"
// is the file DIR/packs/3f/3fa0.
//
// # Crash safety
//
// Put never writes the final file in place. It
//  1. writes the data to a new temporary file in the object's own directory
//     (named with TempPrefix, created with O_EXCL),
//  2. fsyncs that file and closes it,
//  3. renames it over the final name (atomic on POSIX file systems), and
//  4. fsyncs the directory so that the rename itself is durable.
//
// Directories that Put creates are fsynced into their parents as well. So
// after a crash an object is either absent or complete; at worst a stale
// temporary file remains, which List, Get and Stat never report and which
// RemoveTemp deletes. A Put that fails removes its temporary file and leaves
// any earlier object under the key untouched.
//
// OpenUnsynced skips the fsyncs of steps 2 and 4 and of new directories,
// for scratch repositories filled in bulk (benchmarks, generated test
// repositories) whose loss costs nothing: another process still never sees
// an object half-written, but a crash of the machine may lose objects.
//
// # Confinement
//
// All access goes through an os.Root opened on the directory: keys are
// checked with backend.ValidKey, and no key can reach outside the directory,
// not even through a symbolic link planted inside it. List does not follow
// symbolic links at all, and Get, Stat and Delete treat a key that names a
// symbolic link or a directory as missing.
//
// # Limits
//
// A file system cannot hold both an object "a" and an object "a/b"; the
// second Put fails with an error. Keys whose last component begins with
// TempPrefix are rejected with backend.ErrInvalidKey. Delete removes the
// file but leaves empty directories behind.
package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/nardedup/nardedup/chunkstore/backend"
)

// TempPrefix begins the name of every temporary file Put writes.
const TempPrefix = ".nardedup-tmp-"

const (
	filePerm = 0o644
	dirPerm  = 0o755
)

var _ backend.Backend = (*Backend)(nil)

// Backend stores objects as files below one directory. All methods are safe
// for concurrent use; Close must not race with other calls.
type Backend struct {
	dir    string
	root   *os.Root
	noSync bool
}

// Open returns a backend rooted at dir, creating dir (and its parents) if
// needed. The caller closes the backend.
func Open(dir string) (*Backend, error) {
	return open(dir, true)
}

// OpenUnsynced is Open without fsyncs: see "Crash safety" in the package
// doc. Never use it for a repository whose data matters.
func OpenUnsynced(dir string) (*Backend, error) {
	b, err := open(dir, true)
	if err == nil {
		b.noSync = true
	}
	return b, err
}

// OpenExisting is Open for a directory that must exist already: a missing
// dir is an error wrapping fs.ErrNotExist, and nothing is created.
func OpenExisting(dir string) (*Backend, error) {
	return open(dir, false)
}

func open(dir string, create bool) (*Backend, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("local: open %s: %w", dir, err)
	}
	if create {
		if err := os.MkdirAll(abs, dirPerm); err != nil {
			return nil, fmt.Errorf("local: open %s: %w", dir, err)
		}
	}
	root, err := os.OpenRoot(abs)
	if err != nil {
		return nil, fmt.Errorf("local: open %s: %w", dir, err)
	}
	return &Backend{dir: abs, root: root}, nil
}

// Dir returns the absolute directory that holds the objects.
func (b *Backend) Dir() string { return b.dir }

// String implements backend.Backend.
func (b *Backend) String() string { return "local:" + b.dir }

// Close releases the directory handle.
func (b *Backend) Close() error {
	if err := b.root.Close(); err != nil {
		return fmt.Errorf("local: close %s: %w", b.dir, err)
	}
	return nil
}

// isTemp reports whether name (a key or file name) is a temporary file.
func isTemp(name string) bool {
	return strings.HasPrefix(path.Base(name), TempPrefix)
}

// check validates key for operation op and checks ctx.
func check(ctx context.Context, op, key string) error {
	if err := backend.ValidKey(key); err != nil {
		return fmt.Errorf("local: %s: %w", op, err)
	}
	if isTemp(key) {
		return fmt.Errorf("local: %s: %w %q: name reserved for temporary files",
			op, backend.ErrInvalidKey, key)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("local: %s %s: %w", op, key, err)
	}
	return nil
}

// wrap adds context to a file system error, maps "no such object" errors to
// backend.ErrNotExist, and marks errors that retrying cannot fix.
func wrap(op, key string, err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return fmt.Errorf("local: %s %s: %w", op, key, backend.ErrNotExist)
	}
	err = fmt.Errorf("local: %s %s: %w", op, key, err)
	if isFull(err) {
		err = backend.Permanent(err)
	}
	return err
}

// Put implements backend.Backend following the crash-safety discipline in
// the package doc. It stops reading r as soon as r has proven longer than
// size (when size >= 0). Errors name the key; a write error such as a full
// disk wraps the underlying syscall.Errno (test with errors.Is).
func (b *Backend) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := check(ctx, "put", key); err != nil {
		return err
	}
	dir := path.Dir(key)
	if err := b.mkdirs(dir); err != nil {
		return wrapPut(key, err)
	}
	tmp, f, err := b.createTemp(dir)
	if err != nil {
		return wrapPut(key, err)
	}
	if err := writeSync(ctx, f, r, size, !b.noSync); err != nil {
		_ = b.root.Remove(tmp)
		return wrapPut(key, err)
	}
	if err := b.root.Rename(tmp, key); err != nil {
		_ = b.root.Remove(tmp)
		return wrapPut(key, err)
	}
	if err := b.syncDir(dir); err != nil {
		return wrapPut(key, fmt.Errorf("object renamed but directory not synced: %w", err))
	}
	return nil
}

// wrapPut adds context to an error of Put. Unlike wrap it never maps to
// backend.ErrNotExist: a missing or non-directory parent is a failure here.
func wrapPut(key string, err error) error {
	err = fmt.Errorf("local: put %s: %w", key, err)
	if isFull(err) {
		err = backend.Permanent(err)
	}
	return err
}

// isFull reports whether err says the file system or quota is full.
func isFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// writeSync copies r into f, checks the size, fsyncs f if sync is set and
// closes f. It always closes f.
func writeSync(ctx context.Context, f *os.File, r io.Reader, size int64, sync bool) error {
	src := backend.ContextReader(ctx, r)
	if size >= 0 {
		src = io.LimitReader(src, size+1)
	}
	n, err := io.Copy(onlyWriter{f}, src)
	switch {
	case err != nil:
	case size >= 0 && n != size:
		err = fmt.Errorf("%w: read %d bytes, want %d", backend.ErrSizeMismatch, n, size)
	case sync:
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// onlyWriter hides os.File's ReadFrom so that io.Copy uses a plain buffer
// loop that checks ctx between reads.
type onlyWriter struct{ w io.Writer }

func (o onlyWriter) Write(p []byte) (int, error) { return o.w.Write(p) }

// createTemp creates a new temporary file in dir with O_EXCL.
func (b *Backend) createTemp(dir string) (string, *os.File, error) {
	for range 10 {
		name := path.Join(dir, fmt.Sprintf("%s%016x", TempPrefix, rand.Uint64()))
		f, err := b.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
		if err == nil {
			return name, f, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", nil, err
		}
	}
	return "", nil, fmt.Errorf("create temporary file in %s: too many collisions", dir)
}

// mkdirs creates dir and its missing parents below the root, fsyncing each
// parent into which it created a directory.
func (b *Backend) mkdirs(dir string) error {
	if dir == "." {
		return nil
	}
	if fi, err := b.root.Stat(dir); err == nil && fi.IsDir() {
		return nil
	}
	if err := b.mkdirs(path.Dir(dir)); err != nil {
		return err
	}
	err := b.root.Mkdir(dir, dirPerm)
	if errors.Is(err, fs.ErrExist) {
		return nil // created concurrently, or a file is in the way (Rename reports it)
	}
	if err != nil {
		return err
	}
	return b.syncDir(path.Dir(dir))
}

// syncDir fsyncs directory dir so that entries added to or removed from it
// are durable.
func (b *Backend) syncDir(dir string) error {
	if b.noSync {
		return nil
	}
	d, err := b.root.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
