package metered_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/mem"
	"github.com/nardedup/nardedup/chunkstore/backend/metered"
	"github.com/nardedup/nardedup/internal/backendtest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		b, err := metered.New(mem.New(), prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

func TestCounts(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	b, err := metered.New(mem.New(), reg)
	if err != nil {
		t.Fatal(err)
	}
	if err := backend.PutBytes(ctx, b, "a/1", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if _, err := backend.ReadAll(ctx, b, "a/1"); err != nil {
		t.Fatal(err)
	}
	rc, err := b.Get(ctx, "a/1", 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, rc)
	rc.Close()
	rc.Close() // a second Close counts nothing
	if _, err := b.Stat(ctx, "a/missing"); !errors.Is(err, backend.ErrNotExist) {
		t.Fatalf("Stat of a missing key: %v", err)
	}
	if _, err := b.Stat(ctx, "/bad"); err == nil {
		t.Fatal("Stat of an invalid key succeeded")
	}
	if err := b.List(ctx, "a/", func(backend.Info) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, "a/1"); err != nil {
		t.Fatal(err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	b.Stat(canceled, "a/1") // the caller's cancellation is no error

	want := `
# HELP nardedup_backend_errors_total Failed requests to the repository's backend, by operation; a missing object is not a failure.
# TYPE nardedup_backend_errors_total counter
nardedup_backend_errors_total{op="delete"} 0
nardedup_backend_errors_total{op="get"} 0
nardedup_backend_errors_total{op="list"} 0
nardedup_backend_errors_total{op="put"} 0
nardedup_backend_errors_total{op="stat"} 1
# HELP nardedup_backend_read_bytes_total Bytes read from the backend.
# TYPE nardedup_backend_read_bytes_total counter
nardedup_backend_read_bytes_total 7
# HELP nardedup_backend_requests_total Requests to the repository's backend, by operation.
# TYPE nardedup_backend_requests_total counter
nardedup_backend_requests_total{op="delete"} 1
nardedup_backend_requests_total{op="get"} 2
nardedup_backend_requests_total{op="list"} 1
nardedup_backend_requests_total{op="put"} 1
nardedup_backend_requests_total{op="stat"} 3
# HELP nardedup_backend_written_bytes_total Bytes stored on the backend.
# TYPE nardedup_backend_written_bytes_total counter
nardedup_backend_written_bytes_total 5
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "nardedup_backend_errors_total",
		"nardedup_backend_read_bytes_total", "nardedup_backend_requests_total", "nardedup_backend_written_bytes_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(reg, "nardedup_backend_request_duration_seconds"); n != 5 {
		t.Errorf("latency series: got %d; want 5 (one per operation)", n)
	}
}
