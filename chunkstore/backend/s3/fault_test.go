package s3_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/s3"
	"github.com/nardedup/nardedup/internal/backendtest"
	"github.com/nardedup/nardedup/internal/s3test"
)

// everyOp runs each backend operation once and returns their errors.
func everyOp(b backend.Backend) map[string]error {
	ctx := context.Background()
	errs := map[string]error{}
	errs["put"] = backend.PutBytes(ctx, b, "new", []byte("x"))
	rc, err := b.Get(ctx, "small", 0, -1)
	if err == nil {
		_, err = io.ReadAll(rc)
		rc.Close()
	}
	errs["get"] = err
	_, errs["stat"] = b.Stat(ctx, "small")
	errs["list"] = b.List(ctx, "", func(backend.Info) error { return nil })
	errs["delete"] = b.Delete(ctx, "small")
	return errs
}

// checkTransient fails unless every error is set, transient, and not a
// context error.
func checkTransient(t *testing.T, errs map[string]error, want error) {
	t.Helper()
	for op, err := range errs {
		switch {
		case err == nil:
			t.Errorf("%s succeeded on a stopped server", op)
		case backend.IsPermanent(err):
			t.Errorf("%s: error is permanent: %v", op, err)
		case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
			t.Errorf("%s: error wraps a context error: %v", op, err)
		case want != nil && !errors.Is(err, want):
			t.Errorf("%s: error %v does not wrap %v", op, err, want)
		default:
			t.Logf("%s: %v", op, err)
		}
	}
}

func checkWorks(t *testing.T, b backend.Backend, big []byte) {
	t.Helper()
	got, err := backend.ReadAll(context.Background(), b, "big")
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("after restart: Get big: %d bytes, %v", len(got), err)
	}
	if err := backend.PutBytes(context.Background(), b, "small", []byte("again")); err != nil {
		t.Fatalf("after restart: Put: %v", err)
	}
}

// TestServerKilled kills the server in the middle of a GET, checks that
// every operation fails quickly with a transient error, and that all works
// again once the server is back.
func TestServerKilled(t *testing.T) {
	srv := s3test.Start(t)
	b := open(t, srv, srv.NewBucket(t), "repo", s3.WithTimeout(2*time.Second), s3.WithRetries(2), s3.WithBackoff(50*time.Millisecond))
	defer b.Close()
	big := backendtest.Pattern(24<<20, 1)
	ctx := context.Background()
	if err := backend.PutBytes(ctx, b, "big", big); err != nil {
		t.Fatal(err)
	}
	if err := backend.PutBytes(ctx, b, "small", []byte("small")); err != nil {
		t.Fatal(err)
	}
	rc, err := b.Get(ctx, "big", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(rc, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	start := time.Now()
	n, err := io.Copy(io.Discard, rc)
	rc.Close()
	if err == nil {
		t.Fatalf("read of %d bytes after the server was killed succeeded", n)
	}
	t.Logf("Get body after kill: %v (%v)", err, time.Since(start))
	checkTransient(t, everyOp(b), nil)
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("failing took %v", d)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	checkWorks(t, b, big)
}

// TestServerHangs freezes the server: requests end with ErrTimeout after
// the per-request timeout and its retries, not later, and work once the
// server resumes. A caller's deadline ends a request earlier.
func TestServerHangs(t *testing.T) {
	srv := s3test.Start(t)
	const timeout = 500 * time.Millisecond
	b := open(t, srv, srv.NewBucket(t), "", s3.WithTimeout(timeout), s3.WithRetries(1), s3.WithBackoff(10*time.Millisecond))
	defer b.Close()
	big := backendtest.Pattern(3<<20, 2)
	if err := backend.PutBytes(context.Background(), b, "big", big); err != nil {
		t.Fatal(err)
	}
	if err := backend.PutBytes(context.Background(), b, "small", []byte("small")); err != nil {
		t.Fatal(err)
	}
	srv.Freeze()
	defer srv.Thaw()
	start := time.Now()
	errs := everyOp(b)
	checkTransient(t, errs, s3.ErrTimeout)
	// Delete is a HEAD then a DELETE: at most 7 requests of 2 attempts.
	if d, max := time.Since(start), 7*2*timeout+5*time.Second; d > max {
		t.Errorf("five operations took %v on a hung server, want < %v", d, max)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := b.Stat(ctx, "small")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Stat with the caller's deadline: %v, want context.DeadlineExceeded", err)
	}
	srv.Thaw()
	checkWorks(t, b, big)
}

// TestGetResumes restarts the server while a GET streams: the reader
// resumes with a ranged GET and delivers the exact object.
func TestGetResumes(t *testing.T) {
	srv := s3test.Start(t)
	b := open(t, srv, srv.NewBucket(t), "", s3.WithRetries(8), s3.WithBackoff(100*time.Millisecond))
	defer b.Close()
	big := backendtest.Pattern(24<<20, 3)
	if err := backend.PutBytes(context.Background(), b, "big", big); err != nil {
		t.Fatal(err)
	}
	rc, err := b.Get(context.Background(), "big", 5, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	head := make([]byte, 2<<20)
	if _, err := io.ReadFull(rc, head); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	restarted := make(chan error, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		restarted <- srv.Restart()
	}()
	rest, err := io.ReadAll(rc)
	if rerr := <-restarted; rerr != nil {
		t.Fatal(rerr)
	}
	if err != nil {
		t.Fatalf("read across a restart: %v", err)
	}
	if got := append(head, rest...); !bytes.Equal(got, big[5:]) {
		t.Fatalf("read across a restart: %d bytes, want %d, or different content", len(got), len(big)-5)
	}
}
