// Package s3 is a backend.Backend on S3-compatible object storage (Amazon
// S3, MinIO, versitygw, Ceph RGW, Garage, …), built on minio-go.
//
// A repository is addressed by a URL:
//
//	s3://BUCKET/PREFIX?endpoint=HOST:PORT&region=REGION&tls=true|false
//
// Every object key k is stored as PREFIX/k in BUCKET. Without endpoint the
// client talks to Amazon S3 (virtual-host style, TLS) and region is
// required, since requests are signed for the bucket's region; with
// endpoint it uses path-style requests, which every S3-compatible server
// accepts, and region defaults to us-east-1. tls defaults to true. Optional query parameters: timeout (a Go duration, the
// per-request timeout, default 60s) and retries (default 4).
//
// Credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and
// AWS_SESSION_TOKEN), then MINIO_ACCESS_KEY / MINIO_SECRET_KEY, then the
// shared credentials file (~/.aws/credentials, AWS_SHARED_CREDENTIALS_FILE)
// for the profile AWS_PROFILE (default "default"). Without any, requests are
// anonymous, which suits public buckets. The instance metadata service is
// never asked.
//
// # Semantics
//
// Put is one PUT (atomic on S3) for objects up to 16 MiB and a multipart
// upload above, which becomes visible only when completed and is aborted on
// any error; a reader yielding other than the announced size fails the Put
// before the upload completes, so nothing becomes visible. Get is a ranged
// GET; a reader that breaks mid-object with a transient error resumes with
// a ranged GET pinned to the object's ETag. Delete checks with a HEAD
// first, since S3's DELETE of a missing key succeeds: a concurrent Delete
// of the same key may therefore both report success.
//
// Every request runs under the caller's context and a per-request timeout.
// The timeout is an inactivity timeout for bodies: a transfer that keeps
// making progress is never cut. Transient faults (5xx, throttling,
// connection errors, the per-request timeout) are retried with exponential
// backoff; permanent ones (404, 403, other 4xx, invalid keys, size
// mismatch) are returned at once, marked so that backend.IsPermanent
// reports them.
package s3

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/nardedup/nardedup/chunkstore/backend"
)

// Defaults for the per-request timeout and the number of retries.
const (
	DefaultTimeout = 60 * time.Second
	DefaultRetries = 4
)

// Backend is a backend.Backend on one bucket and key prefix.
type Backend struct {
	client    *minio.Client
	core      minio.Core
	transport http.RoundTripper
	bucket    string
	prefix    string // "" or ends with "/"
	region    string
	name      string
	timeout   time.Duration
	retries   int
	backoff   time.Duration
}

var _ backend.Backend = (*Backend)(nil)

// Option changes how Open sets up the backend.
type Option func(*config)

type config struct {
	bucket, prefix string
	endpoint       string
	region         string
	secure         bool
	timeout        time.Duration
	retries        int
	backoff        time.Duration
	creds          *credentials.Credentials
	wrap           func(http.RoundTripper) http.RoundTripper
}

// WithTimeout sets the per-request (inactivity) timeout, overriding the
// URL's timeout parameter.
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithRetries sets how often a transient failure is retried, overriding
// the URL's retries parameter. 0 disables retries.
func WithRetries(n int) Option { return func(c *config) { c.retries = n } }

// WithBackoff sets the delay before the first retry (doubled for each
// further one, at most 5 s). The default is 100 ms.
func WithBackoff(d time.Duration) Option { return func(c *config) { c.backoff = d } }

// WithCredentials uses a static access key instead of the environment.
func WithCredentials(accessKey, secretKey string) Option {
	return func(c *config) { c.creds = credentials.NewStaticV4(accessKey, secretKey, "") }
}

// WithTransport wraps the HTTP transport, e.g. to count or log requests.
func WithTransport(wrap func(http.RoundTripper) http.RoundTripper) Option {
	return func(c *config) { c.wrap = wrap }
}

// Open opens the bucket named by rawURL (see the package doc) and checks
// that it exists. It creates nothing.
func Open(ctx context.Context, rawURL string, opts ...Option) (*Backend, error) {
	b, err := openNoCheck(rawURL, opts)
	if err != nil {
		return nil, err
	}
	if err := b.checkBucket(ctx); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// MakeBucket creates the bucket named by rawURL (its prefix is ignored).
func MakeBucket(ctx context.Context, rawURL string, opts ...Option) error {
	b, err := openNoCheck(rawURL, opts)
	if err != nil {
		return err
	}
	defer b.Close()
	return b.retry(ctx, "make bucket", "", func(ctx context.Context, w *watch) error {
		return b.client.MakeBucket(ctx, b.bucket, minio.MakeBucketOptions{Region: b.region})
	})
}

func openNoCheck(rawURL string, opts []Option) (*Backend, error) {
	cfg, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	for _, o := range opts {
		o(cfg)
	}
	return newBackend(cfg)
}

// parseURL reads s3://BUCKET/PREFIX?… into a config with the defaults.
func parseURL(rawURL string) (*config, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	if u.User != nil {
		// Never echo the URL: it holds a secret.
		return nil, fmt.Errorf("s3: %s: credentials in the URL are not used: give them in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or ~/.aws/credentials)", u.Redacted())
	}
	if u.Scheme != "s3" || u.Host == "" || u.Opaque != "" {
		return nil, fmt.Errorf("s3: %q is not an s3://BUCKET/PREFIX URL", rawURL)
	}
	for _, r := range u.Host + u.Path {
		if unicode.IsControl(r) {
			return nil, fmt.Errorf("s3: %q: bucket or prefix contains the control character %q", rawURL, r)
		}
	}
	q := u.Query()
	for k, vs := range q {
		if len(vs) > 1 {
			return nil, fmt.Errorf("s3: %q: parameter %q given %d times: give it once", rawURL, k, len(vs))
		}
	}
	cfg := &config{
		bucket: u.Host, endpoint: q.Get("endpoint"), region: q.Get("region"),
		secure: true, timeout: DefaultTimeout, retries: DefaultRetries, backoff: 100 * time.Millisecond,
	}
	if p := strings.Trim(u.Path, "/"); p != "" {
		if err := backend.ValidKey(p); err != nil {
			return nil, fmt.Errorf("s3: prefix of %q: %w", rawURL, err)
		}
		cfg.prefix = p + "/"
	}
	if s := q.Get("tls"); s != "" {
		if cfg.secure, err = strconv.ParseBool(s); err != nil {
			return nil, fmt.Errorf("s3: %q: tls=%q: want true or false", rawURL, s)
		}
	}
	if s := q.Get("timeout"); s != "" {
		if cfg.timeout, err = time.ParseDuration(s); err != nil || cfg.timeout <= 0 {
			return nil, fmt.Errorf("s3: %q: timeout=%q: want a positive duration such as 30s", rawURL, s)
		}
	}
	if s := q.Get("retries"); s != "" {
		if cfg.retries, err = strconv.Atoi(s); err != nil || cfg.retries < 0 {
			return nil, fmt.Errorf("s3: %q: retries=%q: want a number >= 0", rawURL, s)
		}
	}
	if cfg.endpoint == "" && cfg.region == "" {
		return nil, fmt.Errorf("s3: %q: give endpoint=HOST:PORT for an S3-compatible server, or region=… for Amazon S3", rawURL)
	}
	for k := range q {
		switch k {
		case "endpoint", "region", "tls", "timeout", "retries":
		default:
			return nil, fmt.Errorf("s3: %q: unknown parameter %q", rawURL, k)
		}
	}
	return cfg, nil
}

// newBackend builds the client from cfg.
func newBackend(cfg *config) (*Backend, error) {
	endpoint, lookup := cfg.endpoint, minio.BucketLookupPath
	if endpoint == "" {
		endpoint, lookup = "s3.amazonaws.com", minio.BucketLookupAuto
	}
	if cfg.region == "" {
		cfg.region = "us-east-1"
	}
	if cfg.creds == nil {
		cfg.creds = credentials.NewChainCredentials([]credentials.Provider{
			&credentials.EnvAWS{}, &credentials.EnvMinio{}, &credentials.FileAWSCredentials{},
		})
	}
	tr, err := minio.DefaultTransport(cfg.secure)
	if err != nil {
		return nil, fmt.Errorf("s3: transport: %w", err)
	}
	tr.ResponseHeaderTimeout = 0 // the per-request watchdog covers it
	var rt http.RoundTripper = tr
	if cfg.wrap != nil {
		rt = cfg.wrap(rt)
	}
	client, err := minio.New(endpoint, &minio.Options{
		Creds: cfg.creds, Secure: cfg.secure, Transport: rt, Region: cfg.region,
		BucketLookup: lookup, MaxRetries: 1, // retries are ours
	})
	if err != nil {
		return nil, fmt.Errorf("s3: endpoint %q: %w", endpoint, err)
	}
	scheme := map[bool]string{true: "https", false: "http"}[cfg.secure]
	return &Backend{
		client: client, core: minio.Core{Client: client}, transport: tr,
		bucket: cfg.bucket, prefix: cfg.prefix, region: cfg.region,
		name:    fmt.Sprintf("s3:%s://%s/%s/%s", scheme, endpoint, cfg.bucket, cfg.prefix),
		timeout: cfg.timeout, retries: cfg.retries, backoff: cfg.backoff,
	}, nil
}

// checkBucket fails unless the bucket exists and is reachable. A bucket
// whose HEAD is denied (public buckets readable without being listable)
// passes: the operations report their own errors.
func (b *Backend) checkBucket(ctx context.Context) error {
	return b.retry(ctx, "open", "", func(ctx context.Context, w *watch) error {
		ok, err := b.client.BucketExists(ctx, b.bucket)
		var resp minio.ErrorResponse
		if errors.As(err, &resp) && resp.StatusCode == http.StatusForbidden {
			return nil
		}
		if err != nil {
			return err
		}
		if !ok {
			return backend.Permanent(fmt.Errorf("bucket %q does not exist", b.bucket))
		}
		return nil
	})
}

// String names the backend, e.g. "s3:http://127.0.0.1:9000/bucket/prefix/".
func (b *Backend) String() string { return b.name }

// Close releases idle connections.
func (b *Backend) Close() error {
	if t, ok := b.transport.(*http.Transport); ok {
		t.CloseIdleConnections()
	}
	return nil
}

// Bucket returns the bucket name.
func (b *Backend) Bucket() string { return b.bucket }

// object returns the S3 object name of key, after validating it.
func (b *Backend) object(key string) (string, error) {
	if err := backend.ValidKey(key); err != nil {
		return "", fmt.Errorf("%s: %w", b.name, err)
	}
	return b.prefix + key, nil
}
