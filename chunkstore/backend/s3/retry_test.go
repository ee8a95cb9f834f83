package s3_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/s3"
	"github.com/nardedup/nardedup/internal/backendtest"
	"github.com/nardedup/nardedup/internal/s3test"
)

// A faultRule answers the first n requests with method whose path ends
// with suffix (and whose query has query, if set) with a fault: "503"
// (SlowDown), "500" (InternalError), "403" (AccessDenied) or "reset" (the
// connection is closed without an answer). Later ones pass through.
type faultRule struct {
	method, suffix, query string
	kind                  string
	n                     int
}

// faultProxy is a reverse proxy in front of the S3 server that applies
// one rule at a time and counts the requests the rule matches.
type faultProxy struct {
	rp       *httputil.ReverseProxy
	mu       sync.Mutex
	rule     faultRule
	attempts int // requests matching rule
}

// startProxy starts a fault proxy in front of srv and returns it with
// its HOST:PORT.
func startProxy(t *testing.T, srv *s3test.Server) (*faultProxy, string) {
	p := &faultProxy{rp: &httputil.ReverseProxy{
		// Keep the client's Host header: requests are signed with it.
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme, r.Out.URL.Host = "http", srv.Endpoint
		},
	}}
	hs := httptest.NewServer(p)
	t.Cleanup(hs.Close)
	return p, strings.TrimPrefix(hs.URL, "http://")
}

// set installs rule and resets the count.
func (p *faultProxy) set(rule faultRule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rule, p.attempts = rule, 0
}

// count returns the requests that matched the rule.
func (p *faultProxy) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.attempts
}

// match counts r if it matches the rule and returns the fault to answer
// with, or "".
func (p *faultProxy) match(r *http.Request) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	rule := p.rule
	if rule.method == "" || r.Method != rule.method || !strings.HasSuffix(r.URL.Path, rule.suffix) ||
		(rule.query != "" && !r.URL.Query().Has(rule.query)) {
		return ""
	}
	p.attempts++
	if p.attempts > rule.n {
		return ""
	}
	return rule.kind
}

func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	kind := p.match(r)
	if kind == "" {
		p.rp.ServeHTTP(w, r)
		return
	}
	if kind == "reset" {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	io.Copy(io.Discard, r.Body) // as a server does before it answers
	status, code := map[string]int{"503": 503, "500": 500, "403": 403}[kind], map[string]string{
		"503": "SlowDown", "500": "InternalError", "403": "AccessDenied"}[kind]
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>%s</Code><Message>injected</Message><Resource>%s</Resource><RequestId>1</RequestId></Error>`, code, r.URL.Path)
	}
}

// freshConns has every request use a new connection, so that net/http
// never replays a request whose connection was reset by itself: every
// attempt the proxy sees is one of the backend's.
func freshConns(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.Close = true
		return rt.RoundTrip(r)
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// retryOp is one backend operation on key, with the request it retries.
type retryOp struct {
	name, method, query string
	run                 func(context.Context, backend.Backend, string) error
}

var retryOps = []retryOp{
	{"put", http.MethodPut, "", func(ctx context.Context, b backend.Backend, key string) error {
		return backend.PutBytes(ctx, b, key, backendtest.Pattern(64<<10, 7))
	}},
	{"get", http.MethodGet, "", func(ctx context.Context, b backend.Backend, key string) error {
		got, err := backend.ReadAll(ctx, b, key)
		if err == nil && !bytes.Equal(got, backendtest.Pattern(1000, 8)) {
			err = fmt.Errorf("got %d other bytes", len(got))
		}
		return err
	}},
	{"stat", http.MethodHead, "", func(ctx context.Context, b backend.Backend, key string) error {
		_, err := b.Stat(ctx, key)
		return err
	}},
	{"list", http.MethodGet, "list-type", func(ctx context.Context, b backend.Backend, key string) error {
		n := 0
		err := b.List(ctx, key, func(backend.Info) error { n++; return nil })
		if err == nil && n != 1 {
			err = fmt.Errorf("listed %d objects, want 1", n)
		}
		return err
	}},
	{"delete", http.MethodDelete, "", func(ctx context.Context, b backend.Backend, key string) error {
		return b.Delete(ctx, key)
	}},
}

// rule returns the rule for op on key in bucket.
func (op retryOp) rule(bucket, key, kind string, n int) faultRule {
	suffix := "/" + bucket + "/" + key
	if op.query != "" {
		suffix = "/" + bucket + "/"
	}
	return faultRule{method: op.method, suffix: suffix, query: op.query, kind: kind, n: n}
}

const testRetries = 2

// retrySetup starts a server, a fault proxy and a backend through it.
func retrySetup(t *testing.T) (*faultProxy, *s3.Backend, string) {
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	p, addr := startProxy(t, srv)
	url := fmt.Sprintf("s3://%s/?endpoint=%s&tls=false", bucket, addr)
	b, err := s3.Open(context.Background(), url, srv.Options(s3.WithRetries(testRetries),
		s3.WithBackoff(2*time.Millisecond), s3.WithTimeout(5*time.Second), s3.WithTransport(freshConns))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return p, b, bucket
}

// TestRetryTransient: up to the retry budget of 503 SlowDown, 500
// InternalError or reset connections, every operation succeeds after
// exactly n+1 attempts; one fault more and it fails with a transient error
// naming the key after retries+1 attempts.
func TestRetryTransient(t *testing.T) {
	p, b, bucket := retrySetup(t)
	ctx := context.Background()
	for i, kind := range []string{"503", "500", "reset"} {
		for j, op := range retryOps {
			for _, n := range []int{testRetries, testRetries + 1} {
				key := fmt.Sprintf("k%d-%d-%d", i, j, n)
				t.Run(fmt.Sprintf("%s/%s/faults=%d", kind, op.name, n), func(t *testing.T) {
					if op.name != "put" {
						if err := backend.PutBytes(ctx, b, key, backendtest.Pattern(1000, 8)); err != nil {
							t.Fatal(err)
						}
					}
					p.set(op.rule(bucket, key, kind, n))
					err := op.run(ctx, b, key)
					got := p.count()
					p.set(faultRule{})
					checkAttempts(t, err, got, n)
					if err != nil && !strings.Contains(err.Error(), key) {
						t.Errorf("error does not name the key %s: %v", key, err)
					}
				})
			}
		}
	}
}

// checkAttempts checks the outcome of an operation that met n faults.
func checkAttempts(t *testing.T, err error, attempts, n int) {
	t.Helper()
	if n <= testRetries {
		if err != nil || attempts != n+1 {
			t.Errorf("%d faults, %d retries: %d attempts (want %d), error %v", n, testRetries, attempts, n+1, err)
		}
		return
	}
	switch {
	case err == nil:
		t.Errorf("%d faults, %d retries: succeeded", n, testRetries)
	case backend.IsPermanent(err):
		t.Errorf("error after %d faults is permanent: %v", n, err)
	case attempts != testRetries+1:
		t.Errorf("%d attempts, want %d: %v", attempts, testRetries+1, err)
	default:
		t.Logf("%d attempts: %v", attempts, err)
	}
}

// TestRetryDenied: a 403 AccessDenied is tried once and is permanent.
func TestRetryDenied(t *testing.T) {
	p, b, bucket := retrySetup(t)
	ctx := context.Background()
	for j, op := range retryOps {
		key := fmt.Sprintf("denied-%d", j)
		t.Run(op.name, func(t *testing.T) {
			if op.name != "put" {
				if err := backend.PutBytes(ctx, b, key, backendtest.Pattern(1000, 8)); err != nil {
					t.Fatal(err)
				}
			}
			p.set(op.rule(bucket, key, "403", 5))
			err := op.run(ctx, b, key)
			got := p.count()
			p.set(faultRule{})
			if err == nil || !backend.IsPermanent(err) || got != 1 {
				t.Errorf("403: %d attempts (want 1), error %v (permanent: %v)", got, err, backend.IsPermanent(err))
			}
			if err != nil && !strings.Contains(err.Error(), key) {
				t.Errorf("error does not name the key %s: %v", key, err)
			}
		})
	}
}

// TestRetryPutIntact: a Put answered with 503 twice stores exactly its
// data, once.
func TestRetryPutIntact(t *testing.T) {
	p, b, bucket := retrySetup(t)
	ctx := context.Background()
	data := backendtest.Pattern(3<<20+17, 9)
	p.set(faultRule{method: http.MethodPut, suffix: "/" + bucket + "/intact", kind: "503", n: 2})
	if err := backend.PutBytes(ctx, b, "intact", data); err != nil {
		t.Fatal(err)
	}
	if got := p.count(); got != 3 {
		t.Errorf("%d PUT attempts, want 3", got)
	}
	p.set(faultRule{})
	got, err := backend.ReadAll(ctx, b, "intact")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get after a retried Put: %d bytes (want %d, equal: %v), %v", len(got), len(data), bytes.Equal(got, data), err)
	}
	var keys []string
	if err := b.List(ctx, "", func(i backend.Info) error { keys = append(keys, i.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0] != "intact" {
		t.Errorf("objects after a retried Put: %v, want [intact]", keys)
	}
}
