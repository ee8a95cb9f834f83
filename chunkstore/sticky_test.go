package chunkstore_test

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/mem"
)

// gate holds the first pack Put until release is closed, then fails it
// with err. Other calls pass through.
type gate struct {
	backend.Backend
	once    sync.Once
	arrived chan struct{}
	release chan struct{}
	err     error
}

func (g *gate) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	first := false
	if strings.HasPrefix(key, "packs/") {
		g.once.Do(func() { first = true })
	}
	if !first {
		return g.Backend.Put(ctx, key, r, size)
	}
	close(g.arrived)
	<-g.release
	return g.err
}

// streamResult is the outcome of one stream: its writer's or commit's
// error, or what its commit callback received.
type streamResult struct {
	name string
	err  error
}

// commitStream writes data and commits it; the outcome goes to out.
func commitStream(s *chunkstore.Store, name string, data []byte, out chan<- streamResult) {
	ctx := context.Background()
	w := s.NewWriter(ctx, func(chunkstore.Ref) error { return nil })
	w.Write(data)
	res, err := w.Close()
	if err == nil {
		err = s.Commit(ctx, func(err error) { out <- streamResult{name, err} }, res)
	}
	if err != nil {
		out <- streamResult{name, err}
	}
}

// TestStickyPackFailure fails the first pack's Put while other streams
// share its chunks: no stream with a chunk in that pack may be reported
// durable, every later stream fails with the pack's error, and after a
// reopen the same data is stored again and reads back.
func TestStickyPackFailure(t *testing.T) {
	full := errors.Join(errors.New("disk full"), syscall.ENOSPC)
	g := &gate{Backend: mem.New(), arrived: make(chan struct{}), release: make(chan struct{}), err: full}
	idx := filepath.Join(t.TempDir(), "index.db")
	s := openStore(t, g, idx)
	x, y := randomData(10, 200<<10), randomData(11, 100<<10)
	out := make(chan streamResult, 8)
	commitStream(s, "a: x", x, out)
	flushed := make(chan error, 1)
	go func() { flushed <- s.Flush(context.Background()) }()
	<-g.arrived // the pack holding x is being stored
	commitStream(s, "b: x again, pending", x, out)
	commitStream(s, "c: y, then x", append(append([]byte{}, y...), x...), out)
	close(g.release)
	if err := <-flushed; !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("flush: got %v; want the pack's ENOSPC", err)
	}
	commitStream(s, "d: x after the failure", x, out)
	commitStream(s, "e: new data after the failure", randomData(12, 50<<10), out)
	s.Close()
	for range 5 {
		r := <-out
		if r.err == nil || !strings.Contains(r.err.Error(), "store pack") {
			t.Errorf("stream %s: got %v; want the error of the failed pack", r.name, r.err)
		}
	}
	s2 := openStore(t, g, idx)
	defer s2.Close()
	refs, _ := write(t, s2, x)
	if got, err := readAll(t, s2, refs); err != nil || string(got) != string(x) {
		t.Fatalf("after reopen: read back err %v, equal %v; want the data", err, string(got) == string(x))
	}
}
