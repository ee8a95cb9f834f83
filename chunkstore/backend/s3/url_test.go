package s3_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/s3"
	"github.com/nardedup/nardedup/internal/s3test"
)

func TestOpenBadURL(t *testing.T) {
	for _, u := range []string{
		"", "bucket", "http://bucket/x", "s3:///prefix?endpoint=h:1", "s3:bucket",
		"s3://bucket", // neither endpoint nor region: refused, nothing is asked
		"s3://bucket/p?endpoint=h:1&tls=maybe",
		"s3://bucket/p?endpoint=h:1&timeout=-1s",
		"s3://bucket/p?endpoint=h:1&retries=x",
		"s3://bucket/p?endpoint=h:1&secret=x",
		"s3://bucket/a/../b?endpoint=h:1",
	} {
		if b, err := s3.Open(context.Background(), u); err == nil {
			t.Errorf("Open(%q) = %v, want an error", u, b)
		} else if !strings.Contains(err.Error(), "s3") {
			t.Errorf("Open(%q): error %q does not name s3", u, err)
		}
	}
}

// A URL that could mean two things is refused with the reason, and
// credentials in it are never echoed.
func TestOpenRefusesAmbiguousURL(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"s3://bucket/p?endpoint=h:1&endpoint=h:2", `parameter "endpoint" given 2 times`},
		{"s3://bucket/p?region=a&region=b", `parameter "region" given 2 times`},
		{"s3://key:secret@bucket/p?endpoint=h:1", "credentials in the URL are not used"},
		{"s3://key@bucket/p?endpoint=h:1", "credentials in the URL are not used"},
		{"s3://bucket/a%0Ab?endpoint=h:1", `control character '\n'`},
		{"s3://bucket/a%09b?endpoint=h:1", `control character '\t'`},
		{"s3://bucket/a%7Fb?endpoint=h:1", `control character '\x7f'`},
	} {
		_, err := s3.Open(context.Background(), tc.url)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%q): %v; want an error saying %s", tc.url, err, tc.want)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%q): error %q shows the secret", tc.url, err)
		}
	}
}

// TestOpenChecksBucket fails on a missing bucket (permanently) and on a
// server that is not there (transiently, after the retries).
func TestOpenChecksBucket(t *testing.T) {
	srv := s3test.Start(t)
	_, err := s3.Open(context.Background(), srv.URL("no-such-bucket", ""), srv.Options()...)
	if err == nil || !backend.IsPermanent(err) || !strings.Contains(err.Error(), "no-such-bucket") {
		t.Errorf("missing bucket: %v, want a permanent error naming it", err)
	}
	bucket := srv.NewBucket(t)
	srv.Stop()
	start := time.Now()
	_, err = s3.Open(context.Background(), srv.URL(bucket, "")+"&retries=1", srv.Options()...)
	if err == nil || backend.IsPermanent(err) || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("stopped server: %v, want a transient error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stopped server: failing took %v", d)
	}
}
