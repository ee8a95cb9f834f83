package ingest_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/ingest"
	"github.com/nardedup/nardedup/source"
)

// A source whose NARs are all gone fails every path: the run stops after
// MaxConsecutiveFailures of them instead of trying each.
func TestStopsAfterConsecutiveFailures(t *testing.T) {
	bucket := sampleBucket(t)
	must(t, os.RemoveAll(filepath.Join(bucket, "nar")))
	src, err := source.Open(bucket)
	must(t, err)
	for _, tc := range []struct {
		limit, wantFailed int
	}{{3, 3}, {-1, len(narinfos(t, bucket))}} {
		r := newRepo(t)
		st, err := ingest.Run(context.Background(), src, r.rp, ingest.Options{Jobs: 1, MaxConsecutiveFailures: tc.limit})
		if err == nil {
			t.Fatalf("limit %d: ingest of a cache without NARs succeeded", tc.limit)
		}
		if st.Failed != tc.wantFailed {
			t.Errorf("limit %d: %d paths failed; want %d", tc.limit, st.Failed, tc.wantFailed)
		}
		if stopped := strings.Contains(err.Error(), "in a row"); stopped != (tc.limit > 0) {
			t.Errorf("limit %d: got error %q", tc.limit, err)
		}
	}
}
