package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"

	"github.com/nardedup/nardedup/chunkstore/backend"
)

// openObject opens the regular file holding key. A key naming a directory
// or a symbolic link is reported as missing.
func (b *Backend) openObject(key string) (*os.File, fs.FileInfo, error) {
	lfi, err := b.root.Lstat(key)
	if err != nil {
		return nil, nil, err
	}
	if !lfi.Mode().IsRegular() {
		return nil, nil, fs.ErrNotExist
	}
	f, err := b.root.Open(key)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err == nil && !os.SameFile(lfi, fi) {
		// Replaced between Lstat and Open, typically by a concurrent Put.
		fi, err = f.Stat()
		if err == nil && !fi.Mode().IsRegular() {
			err = fs.ErrNotExist
		}
	}
	if err != nil {
		_ = f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}

// Get implements backend.Backend. It seeks to offset and limits the read to
// length bytes; the returned reader honours ctx on every Read and the caller
// closes it. A negative offset is an error.
func (b *Backend) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := check(ctx, "get", key); err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, fmt.Errorf("local: get %s: negative offset %d", key, offset)
	}
	f, fi, err := b.openObject(key)
	if err != nil {
		return nil, wrap("get", key, err)
	}
	offset = min(offset, fi.Size())
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		_ = f.Close()
		return nil, wrap("get", key, err)
	}
	var r io.Reader = f
	if length >= 0 {
		r = io.LimitReader(f, length)
	}
	return &objectReader{r: backend.ContextReader(ctx, r), f: f, key: key}, nil
}

// objectReader reads one object file and closes it.
type objectReader struct {
	r   io.Reader
	f   *os.File
	key string
}

func (o *objectReader) Read(p []byte) (int, error) {
	n, err := o.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("local: get %s: %w", o.key, err)
	}
	return n, err
}

func (o *objectReader) Close() error { return o.f.Close() }

// Stat implements backend.Backend.
func (b *Backend) Stat(ctx context.Context, key string) (backend.Info, error) {
	if err := check(ctx, "stat", key); err != nil {
		return backend.Info{}, err
	}
	fi, err := b.root.Lstat(key)
	if err == nil && !fi.Mode().IsRegular() {
		err = fs.ErrNotExist
	}
	if err != nil {
		return backend.Info{}, wrap("stat", key, err)
	}
	return backend.Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// Delete implements backend.Backend. It removes the file and fsyncs its
// directory; empty directories stay.
func (b *Backend) Delete(ctx context.Context, key string) error {
	if err := check(ctx, "delete", key); err != nil {
		return err
	}
	fi, err := b.root.Lstat(key)
	if err == nil && !fi.Mode().IsRegular() {
		err = fs.ErrNotExist
	}
	if err == nil {
		err = b.root.Remove(key)
	}
	if err == nil {
		err = b.syncDir(path.Dir(key))
	}
	if err != nil {
		return wrap("delete", key, err)
	}
	return nil
}

// List implements backend.Backend. It walks only the directory that the
// prefix implies, skips temporary files, symbolic links and subtrees that
// cannot match, and calls fn on the calling goroutine. Objects deleted
// during the walk may or may not be reported.
func (b *Backend) List(ctx context.Context, prefix string, fn func(backend.Info) error) error {
	start := "."
	if i := strings.LastIndexByte(prefix, '/'); i > 0 && backend.ValidKey(prefix[:i]) == nil {
		start = prefix[:i]
	}
	if fi, err := b.root.Lstat(start); err != nil || !fi.IsDir() {
		if err == nil || errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil // nothing can match
		}
		return fmt.Errorf("local: list %q: %w", prefix, err)
	}
	err := fs.WalkDir(b.root.FS(), start, func(name string, d fs.DirEntry, err error) error {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
				return nil // start missing, or removed during the walk
			}
			return err
		}
		return b.visit(name, d, prefix, fn)
	})
	var ce callerErr
	if errors.As(err, &ce) {
		return ce.err
	}
	if err != nil {
		return fmt.Errorf("local: list %q: %w", prefix, err)
	}
	return nil
}

// callerErr carries an error returned by List's fn through the walk, so
// that List returns it unchanged.
type callerErr struct{ err error }

func (c callerErr) Error() string { return c.err.Error() }

// visit handles one walked entry for List.
func (b *Backend) visit(name string, d fs.DirEntry, prefix string, fn func(backend.Info) error) error {
	if d.IsDir() {
		if name == "." || strings.HasPrefix(name+"/", prefix) || strings.HasPrefix(prefix, name+"/") {
			return nil
		}
		return fs.SkipDir
	}
	if !d.Type().IsRegular() || isTemp(name) || !strings.HasPrefix(name, prefix) ||
		backend.ValidKey(name) != nil {
		return nil
	}
	fi, err := d.Info()
	if errors.Is(err, fs.ErrNotExist) {
		return nil // deleted or replaced during the walk
	}
	if err != nil {
		return err
	}
	if err := fn(backend.Info{Key: name, Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
		return callerErr{err}
	}
	return nil
}
