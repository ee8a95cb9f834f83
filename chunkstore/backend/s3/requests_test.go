package s3_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/s3"
	"github.com/nardedup/nardedup/internal/backendtest"
	"github.com/nardedup/nardedup/internal/s3test"
)

// counter counts the HTTP requests that pass through it.
type counter struct {
	rt http.RoundTripper
	n  atomic.Int64
}

func (c *counter) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.rt.RoundTrip(r)
}

// delta runs fn and returns the requests it made.
func (c *counter) delta(fn func()) int64 {
	before := c.n.Load()
	fn()
	return c.n.Load() - before
}

// TestRequestCounts pins how many S3 requests each operation makes.
func TestRequestCounts(t *testing.T) {
	srv := s3test.Start(t)
	cnt := &counter{}
	b := open(t, srv, srv.NewBucket(t), "p", s3.WithTransport(func(rt http.RoundTripper) http.RoundTripper {
		cnt.rt = rt
		return cnt
	}))
	defer b.Close()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	read := func(off, n int64) {
		rc, err := b.Get(ctx, "obj", off, n)
		must(err)
		_, err = io.Copy(io.Discard, rc)
		must(err)
		must(rc.Close())
	}
	tests := []struct {
		name string
		want int64
		fn   func()
	}{
		{"Put 1 MiB", 1, func() { must(backend.PutBytes(ctx, b, "obj", backendtest.Pattern(1<<20, 1))) }},
		{"Put unknown size", 1, func() { must(b.Put(ctx, "obj2", bytes.NewReader(backendtest.Pattern(1000, 1)), -1)) }},
		{"Get whole", 1, func() { read(0, -1) }},
		{"Get range", 1, func() { read(1000, 4096) }},
		{"Get length 0", 1, func() { read(10, 0) }},
		{"Stat", 1, func() { _, err := b.Stat(ctx, "obj"); must(err) }},
		{"List", 1, func() { must(b.List(ctx, "", func(backend.Info) error { return nil })) }},
		{"Delete", 2, func() { must(b.Delete(ctx, "obj2")) }},
	}
	for _, tc := range tests {
		if got := cnt.delta(tc.fn); got != tc.want {
			t.Errorf("%s: %d requests, want %d", tc.name, got, tc.want)
		}
	}
}

// TestMultipart stores objects above the single-PUT limit, of known and
// unknown size, and checks that a size mismatch leaves nothing behind.
func TestMultipart(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 100 MiB")
	}
	srv := s3test.Start(t)
	b := open(t, srv, srv.NewBucket(t), "")
	defer b.Close()
	ctx := context.Background()
	data := backendtest.Pattern(40<<20+3, 4)
	if err := backend.PutBytes(ctx, b, "known", data); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, "unknown", bytes.NewReader(data), -1); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"known", "unknown"} {
		rc, err := b.Get(ctx, key, 16<<20-10, 20)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, data[16<<20-10:16<<20+10]) {
			t.Fatalf("%s: range across parts: %d bytes, %v", key, len(got), err)
		}
		if info, err := b.Stat(ctx, key); err != nil || info.Size != int64(len(data)) {
			t.Fatalf("%s: Stat = %+v, %v", key, info, err)
		}
	}
	for _, size := range []int64{int64(len(data)) + 1, int64(len(data)) - 1} {
		err := b.Put(ctx, "bad", bytes.NewReader(data), size)
		if !backend.IsPermanent(err) {
			t.Errorf("Put with size %d: %v, want a permanent error", size, err)
		}
		if _, err := b.Stat(ctx, "bad"); !errors.Is(err, backend.ErrNotExist) {
			t.Errorf("Stat after a failed multipart Put: %v, want not found", err)
		}
	}
}
