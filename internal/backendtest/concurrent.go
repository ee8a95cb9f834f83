package backendtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/chunkstore/backend"
)

func testCancelledContext(t *testing.T, b backend.Backend) {
	put(t, b, "there", []byte("x"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := b.Put(ctx, "new", strings.NewReader("y"), 1)
	wantErr(t, "Put", err, context.Canceled)
	rc, err := b.Get(ctx, "there", 0, -1)
	if err == nil {
		// The check may happen when reading instead.
		_, err = io.ReadAll(rc)
		rc.Close()
	}
	wantErr(t, "Get", err, context.Canceled)
	_, err = b.Stat(ctx, "there")
	wantErr(t, "Stat", err, context.Canceled)
	err = b.List(ctx, "", func(backend.Info) error { return nil })
	wantErr(t, "List", err, context.Canceled)
	wantErr(t, "Delete", b.Delete(ctx, "there"), context.Canceled)
	absent(t, b, "new")
	equal(t, "Get after cancelled Delete", get(t, b, "there", 0, -1), []byte("x"))
}

// cancellingReader cancels its context after yielding half of its data.
type cancellingReader struct {
	data   []byte
	pos    int
	cancel context.CancelFunc
}

func (c *cancellingReader) Read(p []byte) (int, error) {
	if c.pos >= len(c.data) {
		return 0, io.EOF
	}
	if c.pos >= len(c.data)/2 {
		c.cancel()
	}
	n := copy(p[:min(len(p), 4096)], c.data[c.pos:])
	c.pos += n
	return n, nil
}

func testCancelDuringPut(t *testing.T, b backend.Backend) {
	data := Pattern(1<<20, 5)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err := b.Put(ctx, "obj", &cancellingReader{data: data, cancel: cancel}, int64(len(data)))
	wantErr(t, "Put", err, context.Canceled)
	absent(t, b, "obj")
}

// gatedReader yields data, pausing halfway: it closes mid and waits for
// resume.
type gatedReader struct {
	data        []byte
	pos         int
	mid, resume chan struct{}
}

func (g *gatedReader) Read(p []byte) (int, error) {
	half := len(g.data) / 2
	if g.pos == half && g.mid != nil {
		close(g.mid)
		<-g.resume
		g.mid = nil
	}
	if g.pos >= len(g.data) {
		return 0, io.EOF
	}
	end := len(g.data)
	if g.pos < half {
		end = half
	}
	n := copy(p, g.data[g.pos:end])
	g.pos += n
	return n, nil
}

// observe reads key once and checks that it is absent (when allowed) or
// exactly one of versions.
func observe(b backend.Backend, key string, absentOK bool, versions ...[]byte) error {
	ctx := context.Background()
	info, err := b.Stat(ctx, key)
	if err == nil && !hasSize(versions, info.Size) {
		return fmt.Errorf("stat saw size %d, a partial object", info.Size)
	}
	if err != nil && !(absentOK && errors.Is(err, backend.ErrNotExist)) {
		return fmt.Errorf("stat: %w", err)
	}
	data, err := backend.ReadAll(ctx, b, key)
	if err != nil {
		if absentOK && errors.Is(err, backend.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("get: %w", err)
	}
	for _, v := range versions {
		if bytes.Equal(data, v) {
			return nil
		}
	}
	return fmt.Errorf("get saw %d bytes matching no complete version", len(data))
}

func hasSize(versions [][]byte, size int64) bool {
	for _, v := range versions {
		if int64(len(v)) == size {
			return true
		}
	}
	return false
}
