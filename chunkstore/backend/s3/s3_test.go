package s3_test

import (
	"context"
	"testing"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/s3"
	"github.com/nardedup/nardedup/internal/backendtest"
	"github.com/nardedup/nardedup/internal/s3test"
)

func TestConformance(t *testing.T) {
	srv := s3test.Start(t)
	for _, prefix := range []string{"", "repo/one"} {
		t.Run("prefix="+prefix, func(t *testing.T) {
			backendtest.Run(t, func(t *testing.T) backend.Backend {
				return open(t, srv, srv.NewBucket(t), prefix)
			})
		})
	}
}

func open(t testing.TB, srv *s3test.Server, bucket, prefix string, opts ...s3.Option) *s3.Backend {
	t.Helper()
	b, err := s3.Open(context.Background(), srv.URL(bucket, prefix), srv.Options(opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
