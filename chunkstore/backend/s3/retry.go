package s3

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/nardedup/nardedup/chunkstore/backend"
)

// ErrTimeout is wrapped by the error of a request that made no progress
// within the per-request timeout. It is transient: backend.IsPermanent
// reports false for it (it does not wrap context.DeadlineExceeded).
var ErrTimeout = errors.New("s3: request timed out")

// watch is one request's inactivity timer: it cancels the request's
// context with ErrTimeout unless touched within the timeout.
type watch struct {
	mu     sync.Mutex
	timer  *time.Timer
	d      time.Duration
	ctx    context.Context
	cancel context.CancelCauseFunc
	kept   bool // set by an attempt that hands the watch on (a Get's body)
}

// startWatch returns a watch over a context derived from ctx.
func (b *Backend) startWatch(ctx context.Context) *watch {
	w := &watch{d: b.timeout}
	w.ctx, w.cancel = context.WithCancelCause(ctx)
	w.timer = time.AfterFunc(b.timeout, func() { w.cancel(ErrTimeout) })
	return w
}

// touch restarts the timer: the request made progress.
func (w *watch) touch() {
	w.mu.Lock()
	w.timer.Reset(w.d)
	w.mu.Unlock()
}

// stop ends the request's context and timer.
func (w *watch) stop() {
	w.mu.Lock()
	w.timer.Stop()
	w.mu.Unlock()
	w.cancel(context.Canceled)
}

// timedOut reports whether the watch fired.
func (w *watch) timedOut() bool { return errors.Is(context.Cause(w.ctx), ErrTimeout) }

// retry runs attempt until it succeeds, fails permanently, ctx ends or
// the retries are used up. Each attempt gets its own watch, which retry
// stops afterwards unless a successful attempt kept it; errors are classified and named after op and key.
func (b *Backend) retry(ctx context.Context, op, key string, attempt func(context.Context, *watch) error) error {
	return b.retryN(ctx, op, key, b.retries, attempt)
}

// retryN is retry with at most retries retries.
func (b *Backend) retryN(ctx context.Context, op, key string, retries int, attempt func(context.Context, *watch) error) error {
	delay := b.backoff
	for i := 0; ; i++ {
		w := b.startWatch(ctx)
		err := b.classify(ctx, w, op, key, attempt(w.ctx, w))
		if err != nil || !w.kept {
			w.stop()
		}
		if err == nil || backend.IsPermanent(err) || i >= retries {
			return err
		}
		sleep := delay/2 + rand.N(delay/2+1)
		t := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (retrying after: %v)", b.ctxErr(ctx, op, key), err)
		case <-t.C:
		}
		delay = min(2*delay, 5*time.Second)
	}
}

// ctxErr wraps the caller's context error.
func (b *Backend) ctxErr(ctx context.Context, op, key string) error {
	return fmt.Errorf("s3 %s %s: %w", op, b.where(key), context.Cause(ctx))
}

// where names key with the bucket and prefix.
func (b *Backend) where(key string) string {
	return fmt.Sprintf("s3://%s/%s%s", b.bucket, b.prefix, key)
}

// classify wraps err with op and key and marks it: the caller's context
// error as is, ErrTimeout when the watch fired, ErrNotExist for a missing
// object, Permanent for other client errors; everything else is transient.
func (b *Backend) classify(ctx context.Context, w *watch, op, key string, err error) error {
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return b.ctxErr(ctx, op, key)
	case w != nil && w.timedOut():
		// Not wrapping err: it wraps context.Canceled, which is permanent.
		return fmt.Errorf("s3 %s %s: %w: no progress for %v (%v)", op, b.where(key), ErrTimeout, b.timeout, err)
	case backend.IsPermanent(err):
		return fmt.Errorf("s3 %s %s: %w", op, b.where(key), err)
	}
	var resp minio.ErrorResponse
	if !errors.As(err, &resp) {
		return fmt.Errorf("s3 %s %s: %w", op, b.where(key), err) // network: transient
	}
	code := resp.StatusCode
	switch {
	case code == http.StatusNotFound && resp.Code != "NoSuchBucket",
		resp.Code == "NoSuchKey":
		return fmt.Errorf("s3 %s %s: %w", op, b.where(key), backend.ErrNotExist)
	case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests,
		resp.Code == "SlowDown", resp.Code == "RequestTimeout", resp.Code == "InternalError",
		code >= 500:
		return fmt.Errorf("s3 %s %s: HTTP %d %s: %w", op, b.where(key), code, resp.Code, err)
	default: // other 4xx, and client-side checks (code 0)
		return backend.Permanent(fmt.Errorf("s3 %s %s: HTTP %d %s: %w", op, b.where(key), code, resp.Code, err))
	}
}
