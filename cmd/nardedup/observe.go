package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/cache"
	"github.com/nardedup/nardedup/chunkstore/backend/metered"
	"github.com/nardedup/nardedup/internal/metrics"
	"github.com/nardedup/nardedup/server"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/urfave/cli/v2"
)

// observeFlags are the log and metrics flags of the long-running
// commands: serve, ingest and gc.
func observeFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "metrics-listen", Usage: "serve Prometheus metrics at http://`ADDR`/metrics, a listener of their own (e.g. 127.0.0.1:9101)", EnvVars: []string{"NARDEDUP_METRICS_LISTEN"}},
		&cli.StringFlag{Name: "log-format", Usage: "log lines as text or json", Value: "text", EnvVars: []string{"NARDEDUP_LOG_FORMAT"}},
		&cli.StringFlag{Name: "log-level", Usage: "least level logged: debug, info, warn or error", Value: "info", EnvVars: []string{"NARDEDUP_LOG_LEVEL"}},
	}
}

// newLogger returns the logger of --log-format and --log-level, writing
// to stderr, and makes it slog's default.
func newLogger(c *cli.Context) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", c.String("log-level"))
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch strings.ToLower(c.String("log-format")) {
	case "text":
		h = slog.NewTextHandler(os.Stderr, opts)
	case "json":
		h = slog.NewJSONHandler(os.Stderr, opts)
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", c.String("log-format"))
	}
	log := slog.New(h)
	slog.SetDefault(log)
	return log, nil
}

// observe sets up what a long-running command logs and exports: its
// logger (see newLogger) and its metrics registry.
func observe(c *cli.Context) (*slog.Logger, *prometheus.Registry, error) {
	log, err := newLogger(c)
	if err != nil {
		return nil, nil, err
	}
	return log, metrics.NewRegistry(), nil
}

// openMetered opens the backend of --repo with its requests counted on
// reg.
func openMetered(c *cli.Context, reg prometheus.Registerer) (backend.Backend, error) {
	be, err := openBackend(c)
	if err != nil {
		return nil, err
	}
	return meter(be, reg)
}

// meter wraps be to count its requests on reg; on failure it closes be.
func meter(be backend.Backend, reg prometheus.Registerer) (backend.Backend, error) {
	m, err := metered.New(be, reg)
	if err != nil {
		be.Close()
		return nil, fmt.Errorf("metrics of %s: %w", be, err)
	}
	return m, nil
}

// registerDiskCache registers the counters of be's disk cache, if it is
// one (--cache-dir).
func registerDiskCache(be backend.Backend, reg prometheus.Registerer) error {
	cb, ok := be.(*cache.Backend)
	if !ok {
		return nil
	}
	return metrics.RegisterDiskCache(reg, cb.Stats)
}

// startMetrics serves reg on --metrics-listen, if given, until stop is
// called.
func startMetrics(c *cli.Context, reg *prometheus.Registry, log *slog.Logger) (stop func(), err error) {
	addr := c.String("metrics-listen")
	if addr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelError), Registry: reg}))
	ctx, cancel := context.WithCancel(c.Context)
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := server.Serve(ctx, ln, mux, server.HTTPOptions{})
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener failed", "addr", ln.Addr().String(), "err", err)
		}
	}()
	log.Info("serving metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	return func() { cancel(); <-done }, nil
}
