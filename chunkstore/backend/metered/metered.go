package metered

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/internal/countio"
	"github.com/prometheus/client_golang/prometheus"
)

// The operations, as the op label spells them.
const (
	opGet    = "get"
	opPut    = "put"
	opStat   = "stat"
	opList   = "list"
	opDelete = "delete"
)

// latencyBuckets span a local disk's fraction of a millisecond to a
// minute-long transfer of a pack from object storage.
var latencyBuckets = prometheus.ExponentialBuckets(0.0005, 4, 10)

// Backend counts the requests to the backend it wraps. It is safe for
// concurrent use if the wrapped backend is.
type Backend struct {
	inner    backend.Backend
	requests *prometheus.CounterVec
	errs     *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	read     prometheus.Counter
	written  prometheus.Counter
}

var _ backend.Backend = (*Backend)(nil)

// New returns inner with its requests counted on reg. It fails if reg
// already holds the metrics, e.g. from a second New on the same registry.
func New(inner backend.Backend, reg prometheus.Registerer) (*Backend, error) {
	b := &Backend{
		inner: inner,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nardedup_backend_requests_total",
			Help: "Requests to the repository's backend, by operation.",
		}, []string{"op"}),
		errs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nardedup_backend_errors_total",
			Help: "Failed requests to the repository's backend, by operation; a missing object is not a failure.",
		}, []string{"op"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "nardedup_backend_request_duration_seconds",
			Help:    "Latency of the backend's requests, by operation; a get's lasts until its reader is closed.",
			Buckets: latencyBuckets,
		}, []string{"op"}),
		read: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nardedup_backend_read_bytes_total",
			Help: "Bytes read from the backend.",
		}),
		written: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nardedup_backend_written_bytes_total",
			Help: "Bytes stored on the backend.",
		}),
	}
	for _, c := range []prometheus.Collector{b.requests, b.errs, b.latency, b.read, b.written} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	// Every operation shows from the start, at zero.
	for _, op := range []string{opGet, opPut, opStat, opList, opDelete} {
		b.requests.WithLabelValues(op)
		b.errs.WithLabelValues(op)
	}
	return b, nil
}

// Unwrap returns the wrapped backend, for backend.Forget.
func (b *Backend) Unwrap() backend.Backend { return b.inner }

// start counts a request of op and returns the function that ends it
// with its error.
func (b *Backend) start(ctx context.Context, op string) func(error) {
	b.requests.WithLabelValues(op).Inc()
	t := time.Now()
	return func(err error) {
		b.latency.WithLabelValues(op).Observe(time.Since(t).Seconds())
		if err != nil && !errors.Is(err, backend.ErrNotExist) && ctx.Err() == nil {
			b.errs.WithLabelValues(op).Inc()
		}
	}
}

// Put implements backend.Backend.
func (b *Backend) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	end := b.start(ctx, opPut)
	cr := &countio.Reader{R: r}
	err := b.inner.Put(ctx, key, cr, size)
	end(err)
	if err == nil {
		b.written.Add(float64(cr.N))
	}
	return err
}

// Get implements backend.Backend. The request ends when the returned
// reader is closed; a read error counts as the request's error.
func (b *Backend) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	end := b.start(ctx, opGet)
	rc, err := b.inner.Get(ctx, key, offset, length)
	if err != nil {
		end(err)
		return nil, err
	}
	return &getReader{rc: rc, end: end, read: b.read}, nil
}

// Stat implements backend.Backend.
func (b *Backend) Stat(ctx context.Context, key string) (backend.Info, error) {
	end := b.start(ctx, opStat)
	fi, err := b.inner.Stat(ctx, key)
	end(err)
	return fi, err
}

// List implements backend.Backend. Its latency includes the time fn
// takes.
func (b *Backend) List(ctx context.Context, prefix string, fn func(backend.Info) error) error {
	end := b.start(ctx, opList)
	err := b.inner.List(ctx, prefix, fn)
	end(err)
	return err
}

// Delete implements backend.Backend.
func (b *Backend) Delete(ctx context.Context, key string) error {
	end := b.start(ctx, opDelete)
	err := b.inner.Delete(ctx, key)
	end(err)
	return err
}

// Close closes the wrapped backend.
func (b *Backend) Close() error { return b.inner.Close() }

// String names the wrapped backend.
func (b *Backend) String() string { return b.inner.String() }

// getReader ends its Get request on Close, with the first read error
// other than io.EOF.
type getReader struct {
	rc   io.ReadCloser
	end  func(error)
	read prometheus.Counter
	err  error
	done bool
}

func (g *getReader) Read(p []byte) (int, error) {
	n, err := g.rc.Read(p)
	g.read.Add(float64(n))
	if err != nil && err != io.EOF && g.err == nil {
		g.err = err
	}
	return n, err
}

func (g *getReader) Close() error {
	err := g.rc.Close()
	if !g.done {
		g.done = true
		g.end(g.err)
	}
	return err
}
