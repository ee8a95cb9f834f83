// Package mem is an in-memory backend.Backend for tests and benchmarks.
//
// Objects live in a map guarded by a mutex; nothing is durable. A Put reads
// its whole input before taking the lock, so concurrent readers see either
// the old object or the new one, never a prefix. Stored byte slices are never
// modified after a Put, so readers returned by Get stay valid while other
// goroutines replace or delete the object.
package mem

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/nardedup/nardedup/chunkstore/backend"
)

// ErrClosed is returned by every method called after Close.
var ErrClosed = errors.New("mem: backend closed")

var _ backend.Backend = (*Backend)(nil)

// Backend is an in-memory backend. All methods are safe for concurrent use.
type Backend struct {
	mu      sync.RWMutex
	objects map[string][]byte
	mod     map[string]time.Time
	closed  bool
}

// New returns an empty in-memory backend.
func New() *Backend {
	return &Backend{objects: make(map[string][]byte), mod: make(map[string]time.Time)}
}

// check validates key (unless it is a List prefix) and ctx.
func (b *Backend) check(ctx context.Context, op, key string, validate bool) error {
	if validate {
		if err := backend.ValidKey(key); err != nil {
			return fmt.Errorf("mem: %s: %w", op, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mem: %s %s: %w", op, key, err)
	}
	return nil
}

// Put implements backend.Backend. It stops reading r as soon as r has
// proven longer than size (when size >= 0).
func (b *Backend) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := b.check(ctx, "put", key, true); err != nil {
		return err
	}
	var buf bytes.Buffer
	src := backend.ContextReader(ctx, r)
	var err error
	if size >= 0 {
		buf.Grow(int(min(size, 64<<20)) + bytes.MinRead)
		_, err = io.Copy(&buf, io.LimitReader(src, size+1))
	} else {
		_, err = io.Copy(&buf, src)
	}
	if err != nil {
		return fmt.Errorf("mem: put %s: %w", key, err)
	}
	if size >= 0 && int64(buf.Len()) != size {
		return fmt.Errorf("mem: put %s: %w: read %d bytes, want %d",
			key, backend.ErrSizeMismatch, buf.Len(), size)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	b.objects[key] = buf.Bytes() // buf is not used again
	b.mod[key] = time.Now()
	return nil
}

// lookup returns the object stored under key.
func (b *Backend) lookup(op, key string) ([]byte, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return nil, ErrClosed
	}
	data, ok := b.objects[key]
	if !ok {
		return nil, fmt.Errorf("mem: %s %s: %w", op, key, backend.ErrNotExist)
	}
	return data, nil
}

// Get implements backend.Backend. The returned reader honours ctx on every
// Read; the caller closes it.
func (b *Backend) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := b.check(ctx, "get", key, true); err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, fmt.Errorf("mem: get %s: negative offset %d", key, offset)
	}
	data, err := b.lookup("get", key)
	if err != nil {
		return nil, err
	}
	offset = min(offset, int64(len(data)))
	end := int64(len(data))
	if length >= 0 && length < end-offset {
		end = offset + length
	}
	r := backend.ContextReader(ctx, bytes.NewReader(data[offset:end]))
	return io.NopCloser(r), nil
}

// Stat implements backend.Backend.
func (b *Backend) Stat(ctx context.Context, key string) (backend.Info, error) {
	if err := b.check(ctx, "stat", key, true); err != nil {
		return backend.Info{}, err
	}
	data, err := b.lookup("stat", key)
	if err != nil {
		return backend.Info{}, err
	}
	b.mu.RLock()
	mod := b.mod[key]
	b.mu.RUnlock()
	return backend.Info{Key: key, Size: int64(len(data)), ModTime: mod}, nil
}

// List implements backend.Backend. It snapshots the matching keys first,
// so fn may call other methods of b (even Put and Delete) without
// deadlocking.
func (b *Backend) List(ctx context.Context, prefix string, fn func(backend.Info) error) error {
	if err := b.check(ctx, "list", prefix, false); err != nil {
		return err
	}
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		return ErrClosed
	}
	var infos []backend.Info
	for k, v := range b.objects {
		if strings.HasPrefix(k, prefix) {
			infos = append(infos, backend.Info{Key: k, Size: int64(len(v)), ModTime: b.mod[k]})
		}
	}
	b.mu.RUnlock()
	for _, info := range infos {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("mem: list %s: %w", prefix, err)
		}
		if err := fn(info); err != nil {
			return err
		}
	}
	return nil
}

// Delete implements backend.Backend.
func (b *Backend) Delete(ctx context.Context, key string) error {
	if err := b.check(ctx, "delete", key, true); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	if _, ok := b.objects[key]; !ok {
		return fmt.Errorf("mem: delete %s: %w", key, backend.ErrNotExist)
	}
	delete(b.objects, key)
	delete(b.mod, key)
	return nil
}

// Close drops all objects; later calls fail with ErrClosed.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	b.objects = nil
	return nil
}

// String implements backend.Backend.
func (b *Backend) String() string { return "mem" }
