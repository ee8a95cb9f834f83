package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// HTTPOptions are the connection limits of the HTTP server that
// NewHTTPServer builds. A zero field takes the default shown.
type HTTPOptions struct {
	// ReadHeaderTimeout bounds the reading of a request's line and headers
	// (10s): a client sending them slowly is cut off.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds the reading of a whole request, body included
	// (30s). It does not limit the response.
	ReadTimeout time.Duration
	// WriteTimeout bounds the writing of a response (1m). A NAR download
	// replaces it by Options.SendTimeout per write.
	WriteTimeout time.Duration
	// IdleTimeout is how long a keep-alive connection may wait for its
	// next request (2m).
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds the request line and headers (16 KiB); a
	// longer request gets 431 or 400. It is the limit clients see: the
	// http.Server is given 4 KiB less, since net/http reads that much
	// beyond its own MaxHeaderBytes. The smallest limit is 4 KiB + 1.
	MaxHeaderBytes int
	// ShutdownTimeout is how long Serve waits for requests in progress
	// after its context ends (10s).
	ShutdownTimeout time.Duration
}

func (o HTTPOptions) withDefaults() HTTPOptions {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.ReadHeaderTimeout, 10*time.Second)
	def(&o.ReadTimeout, 30*time.Second)
	def(&o.WriteTimeout, time.Minute)
	def(&o.IdleTimeout, DefaultIdleTimeout)
	def(&o.ShutdownTimeout, 10*time.Second)
	if o.MaxHeaderBytes == 0 {
		o.MaxHeaderBytes = 16 << 10
	}
	return o
}

// NewHTTPServer returns the http.Server that serves h with the limits of
// opts.
func NewHTTPServer(h http.Handler, opts HTTPOptions) *http.Server {
	opts = opts.withDefaults()
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: opts.ReadHeaderTimeout,
		ReadTimeout:       opts.ReadTimeout,
		WriteTimeout:      opts.WriteTimeout,
		IdleTimeout:       opts.IdleTimeout,
		MaxHeaderBytes:    max(opts.MaxHeaderBytes-headerSlack, 1),
		// net/http answers "OPTIONS *" itself, before h and so before
		// authentication: let h answer it like any other request.
		DisableGeneralOptionsHandler: true,
	}
}

// headerSlack is what net/http reads of a request's line and headers
// beyond http.Server.MaxHeaderBytes before it answers 431.
const headerSlack = 4096

// Serve serves h on ln with the limits of opts until ctx ends, then shuts
// down gracefully, waiting up to opts.ShutdownTimeout for requests in
// progress.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, opts HTTPOptions) error {
	opts = opts.withDefaults()
	srv := NewHTTPServer(h, opts)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), opts.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(shut)
	if errors.Is(err, context.DeadlineExceeded) {
		// Cut off the downloads still running.
		return srv.Close()
	}
	return err
}
