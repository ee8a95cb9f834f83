package backendtest

import (
	"context"
	"io"
	"strings"
	"sync/atomic"

	"github.com/nardedup/nardedup/chunkstore/backend"
)

// GetCounter is a backend.Backend that counts the Gets of keys under
// Prefix, for tests of how many objects a reader fetches. If Hold is not
// nil, each counted Get first waits for a receive from it (or its close).
type GetCounter struct {
	backend.Backend
	Prefix string
	Hold   chan struct{}
	gets   atomic.Int64
}

// Get counts the read, then reads from the wrapped backend.
func (c *GetCounter) Get(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	if strings.HasPrefix(key, c.Prefix) {
		c.gets.Add(1)
		if c.Hold != nil {
			<-c.Hold
		}
	}
	return c.Backend.Get(ctx, key, off, n)
}

// Gets returns how many Gets of keys under Prefix were made.
func (c *GetCounter) Gets() int64 { return c.gets.Load() }
