package faulty

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/nardedup/nardedup/chunkstore/backend"
)

var _ backend.Backend = (*Backend)(nil)

// Backend wraps another backend and injects faults by its rules. All
// methods are safe for concurrent use; rules match calls in the order the
// calls take the internal lock.
type Backend struct {
	inner backend.Backend

	mu     sync.Mutex
	rules  []*rule
	calls  [numOps]int
	faults int
}

// New wraps inner; without rules the Backend only counts calls. Closing the
// Backend closes inner.
func New(inner backend.Backend) *Backend {
	return &Backend{inner: inner}
}

// Inject adds rules. A call is failed by the first added rule that fires for
// it; every rule selecting the call counts it.
func (b *Backend) Inject(rules ...Rule) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range rules {
		b.rules = append(b.rules, &rule{Rule: r})
	}
}

// Clear removes all rules; counters stay.
func (b *Backend) Clear() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rules = nil
}

// Calls returns how many calls of op were made, faulted or not; OpAny
// counts all operations.
func (b *Backend) Calls(op Op) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if op != OpAny {
		return b.calls[op]
	}
	n := 0
	for _, c := range b.calls {
		n += c
	}
	return n
}

// Faults returns how many calls a rule failed.
func (b *Backend) Faults() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.faults
}

// Unwrap returns the wrapped backend.
func (b *Backend) Unwrap() backend.Backend { return b.inner }

// fault counts a call and returns the rule that fails it, or nil.
func (b *Backend) fault(op Op, key string) *Rule {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls[op]++
	var fired *Rule
	for _, r := range b.rules {
		if r.match(op, key) && fired == nil {
			copied := r.Rule
			copied.Err = r.err()
			fired = &copied
		}
	}
	if fired != nil {
		b.faults++
	}
	return fired
}

func injected(op Op, key string, err error) error {
	return fmt.Errorf("faulty: %s %s: %w", op, key, err)
}

// Put implements backend.Backend. A Fail rule returns without reading r. A
// CutStream rule returns the wrapped backend's error, which should wrap the
// rule's Err.
func (b *Backend) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	f := b.fault(OpPut, key)
	if f == nil {
		return b.inner.Put(ctx, key, r, size)
	}
	switch f.Kind {
	case FailAfter:
		_ = b.inner.Put(ctx, key, r, size)
	case CutStream:
		cut := &cutReader{rc: io.NopCloser(r), left: f.CutAfter, err: f.Err}
		if err := b.inner.Put(ctx, key, cut, size); err != nil {
			return injected(OpPut, key, err)
		}
	}
	return injected(OpPut, key, f.Err)
}

// Get implements backend.Backend. The caller closes the returned reader,
// which closes the wrapped backend's reader.
func (b *Backend) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	f := b.fault(OpGet, key)
	if f == nil {
		return b.inner.Get(ctx, key, offset, length)
	}
	if f.Kind == Fail {
		return nil, injected(OpGet, key, f.Err)
	}
	rc, err := b.inner.Get(ctx, key, offset, length)
	if err != nil {
		return nil, err
	}
	switch f.Kind {
	case CutStream:
		return &cutReader{rc: rc, left: f.CutAfter, err: injected(OpGet, key, f.Err)}, nil
	case Truncate:
		return &cutReader{rc: rc, left: f.CutAfter, err: io.EOF}, nil
	}
	_ = rc.Close()
	return nil, injected(OpGet, key, f.Err)
}

// Stat implements backend.Backend.
func (b *Backend) Stat(ctx context.Context, key string) (backend.Info, error) {
	f := b.fault(OpStat, key)
	if f == nil {
		return b.inner.Stat(ctx, key)
	}
	if f.Kind == FailAfter {
		_, _ = b.inner.Stat(ctx, key)
	}
	return backend.Info{}, injected(OpStat, key, f.Err)
}

// List implements backend.Backend. With FailAfter the whole listing runs,
// fn included, before the error is returned.
func (b *Backend) List(ctx context.Context, prefix string, fn func(backend.Info) error) error {
	f := b.fault(OpList, prefix)
	if f == nil {
		return b.inner.List(ctx, prefix, fn)
	}
	if f.Kind == FailAfter {
		_ = b.inner.List(ctx, prefix, fn)
	}
	return injected(OpList, prefix, f.Err)
}

// Delete implements backend.Backend.
func (b *Backend) Delete(ctx context.Context, key string) error {
	f := b.fault(OpDelete, key)
	if f == nil {
		return b.inner.Delete(ctx, key)
	}
	if f.Kind == FailAfter {
		_ = b.inner.Delete(ctx, key)
	}
	return injected(OpDelete, key, f.Err)
}

// Close closes the wrapped backend.
func (b *Backend) Close() error { return b.inner.Close() }

// String implements backend.Backend.
func (b *Backend) String() string { return "faulty(" + b.inner.String() + ")" }

// cutReader yields at most left bytes of rc and then err.
type cutReader struct {
	rc   io.ReadCloser
	left int64
	err  error
}

func (c *cutReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, c.err
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.rc.Read(p)
	c.left -= int64(n)
	return n, err
}

func (c *cutReader) Close() error { return c.rc.Close() }
