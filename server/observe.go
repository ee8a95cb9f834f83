package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ObserveOptions configure Observe.
type ObserveOptions struct {
	// Logger gets one access-log line per request at Info (Debug for
	// /healthz and /readyz, which probes call every few seconds); nil
	// means slog.Default(). Give it the Logger of the Server's Options,
	// which logs the errors.
	Logger *slog.Logger
	// Metrics, if not nil, is where the HTTP metrics are registered.
	Metrics prometheus.Registerer
	// Ready answers /readyz: it returns nil if the repository answers. It
	// should be cheap, such as a Stat of one object. nil: always ready.
	Ready func(context.Context) error
	// ReadyTTL is how long an answer of Ready is reused (default 5s), so
	// that probes cost the repository at most one request each ReadyTTL.
	ReadyTTL time.Duration
}

// DefaultReadyTTL is the default ObserveOptions.ReadyTTL.
const DefaultReadyTTL = 5 * time.Second

// readyTimeout bounds one call of ObserveOptions.Ready.
const readyTimeout = 5 * time.Second

// Observe wraps h, normally a *Server, with what an operator watches: an
// access-log line per request (method, path, status, bytes, duration,
// client), the HTTP metrics, and the health endpoints, answered before h
// and so outside its authentication:
//
//	GET|HEAD /healthz   200 while the process serves
//	GET|HEAD /readyz    200 if the repository answers (opts.Ready), else 503
//
// It fails if opts.Metrics already holds the HTTP metrics.
func Observe(h http.Handler, opts ObserveOptions) (http.Handler, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.ReadyTTL <= 0 {
		opts.ReadyTTL = DefaultReadyTTL
	}
	o := &observer{next: h, log: opts.Logger, ready: readiness{check: opts.Ready, ttl: opts.ReadyTTL}}
	if opts.Metrics != nil {
		m, err := newHTTPMetrics(opts.Metrics)
		if err != nil {
			return nil, err
		}
		o.metrics = m
	}
	return o, nil
}

type observer struct {
	next    http.Handler
	log     *slog.Logger
	metrics *httpMetrics // nil: none
	ready   readiness
}

// Routes, as the route label and the access log name them.
const (
	routeCacheInfo = "nix-cache-info"
	routeNarInfo   = "narinfo"
	routeListing   = "ls"
	routeNAR       = "nar"
	routeNARZstd   = "nar.zst"
	routeLog       = "log"
	routeRealis    = "realisation"
	routeHealth    = "healthz"
	routeReady     = "readyz"
	routeOther     = "other"
)

var routes = []string{routeCacheInfo, routeNarInfo, routeListing, routeNAR, routeNARZstd, routeLog, routeRealis, routeHealth, routeReady, routeOther}

// routeOf names the route of a request path, as ServeHTTP dispatches it.
func routeOf(p string) string {
	nar := strings.HasPrefix(p, "/nar/") && strings.Count(p, "/") == 2
	switch {
	case p == "/nix-cache-info":
		return routeCacheInfo
	case p == "/healthz":
		return routeHealth
	case p == "/readyz":
		return routeReady
	case strings.HasSuffix(p, ".narinfo") && strings.Count(p, "/") == 1:
		return routeNarInfo
	case strings.HasSuffix(p, ".ls") && strings.Count(p, "/") == 1:
		return routeListing
	case nar && strings.HasSuffix(p, ".nar"):
		return routeNAR
	case nar && strings.HasSuffix(p, ".nar.zst"):
		return routeNARZstd
	case strings.HasPrefix(p, "/log/"):
		return routeLog
	case strings.HasPrefix(p, "/realisations/"):
		return routeRealis
	}
	return routeOther
}

func (o *observer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	route := routeOf(r.URL.Path)
	rec := &recorder{ResponseWriter: w}
	start := time.Now()
	if o.metrics != nil {
		o.metrics.inFlight.Inc()
	}
	// A handler that aborts its response panics with http.ErrAbortHandler:
	// it is recorded as the panic goes on to net/http, which cuts the
	// connection.
	completed := false
	var body *countingBody
	if r.Method == http.MethodPut && r.Body != nil {
		body = &countingBody{ReadCloser: r.Body}
		r.Body = body
	}
	defer func() { o.record(r, route, rec, body, time.Since(start), !completed) }()
	o.serve(rec, r, route)
	completed = true
}

func (o *observer) serve(w http.ResponseWriter, r *http.Request, route string) {
	switch {
	case route == routeHealth && isRead(r):
		writeText(w, r, http.StatusOK, "ok\n")
	case route == routeReady && isRead(r):
		if err := o.ready.get(r.Context()); err != nil {
			// The error may name the bucket: it goes to the log, not to
			// an unauthenticated client.
			o.log.Warn("not ready: the repository does not answer", "err", err)
			writeText(w, r, http.StatusServiceUnavailable, "repository not answering\n")
			return
		}
		writeText(w, r, http.StatusOK, "ok\n")
	default:
		o.next.ServeHTTP(w, r)
	}
}

func isRead(r *http.Request) bool { return r.Method == http.MethodGet || r.Method == http.MethodHead }

func writeText(w http.ResponseWriter, r *http.Request, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		w.Write([]byte(body))
	}
}

// record logs and counts one request. A response that was aborted has
// status 0 if its headers never went out.
func (o *observer) record(r *http.Request, route string, rec *recorder, body *countingBody, d time.Duration, aborted bool) {
	status := rec.status
	if status == 0 && !aborted {
		status = http.StatusOK
	}
	level := slog.LevelInfo
	if route == routeHealth || route == routeReady {
		level = slog.LevelDebug
	}
	attrs := []slog.Attr{slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.Int("status", status), slog.Int64("bytes", rec.bytes), slog.Duration("duration", d),
		slog.String("client", r.RemoteAddr)}
	if aborted {
		attrs = append(attrs, slog.Bool("aborted", true))
	}
	o.log.LogAttrs(context.WithoutCancel(r.Context()), level, "request", attrs...)
	if o.metrics != nil {
		o.metrics.observe(r, route, status, rec.bytes, d, aborted)
		if body != nil {
			o.metrics.observeUpload(r.URL.Path, status, body.n)
		}
	}
}

// recorder is the ResponseWriter the wrapped handler writes to: it keeps
// the status and counts the body bytes. Unwrap gives
// http.ResponseController the connection's own writer, for deadlines and
// flushes.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (rec *recorder) WriteHeader(code int) {
	if rec.status == 0 && code >= 200 {
		rec.status = code
	}
	rec.ResponseWriter.WriteHeader(code)
}

func (rec *recorder) Write(p []byte) (int, error) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	n, err := rec.ResponseWriter.Write(p)
	rec.bytes += int64(n)
	return n, err
}

// Flush flushes the connection's writer, for handlers that look for
// http.Flusher.
func (rec *recorder) Flush() { http.NewResponseController(rec.ResponseWriter).Flush() }

func (rec *recorder) Unwrap() http.ResponseWriter { return rec.ResponseWriter }

// countingBody counts the bytes of a request body read.
type countingBody struct {
	io.ReadCloser
	n int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n += int64(n)
	return n, err
}

// readiness caches the answer of a readiness check for ttl.
type readiness struct {
	check func(context.Context) error // nil: always ready
	ttl   time.Duration

	mu  sync.Mutex // held during a check, so that probes share it
	at  time.Time  // when err was found; zero: never
	err error
}

func (rd *readiness) get(ctx context.Context) error {
	if rd.check == nil {
		return nil
	}
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if !rd.at.IsZero() && time.Since(rd.at) < rd.ttl {
		return rd.err
	}
	// The answer is shared: a probe that gives up must not make it an
	// error for the others.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), readyTimeout)
	defer cancel()
	rd.err = rd.check(ctx)
	if rd.err == nil && ctx.Err() != nil {
		rd.err = errors.New("readiness check timed out")
	}
	rd.at = time.Now()
	return rd.err
}
