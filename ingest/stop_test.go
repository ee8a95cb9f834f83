package ingest_test

import (
	"context"
	"io"
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

// cutSource is a source whose NAR files, once read, end the run (as
// SIGINT does) and then break off.
type cutSource struct {
	source.Source
	cancel context.CancelFunc
}

func (s cutSource) Open(ctx context.Context, url string) (io.ReadCloser, error) {
	f, err := s.Source.Open(ctx, url)
	if err != nil {
		return nil, err
	}
	return cutFile{f, s.cancel}, nil
}

type cutFile struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (f cutFile) Read(p []byte) (int, error) {
	f.cancel()
	return 0, io.ErrUnexpectedEOF
}

// The store paths in flight when the run is interrupted are reported as
// interrupted, not failed, and the run as interrupted.
func TestInterruptedIsNotFailed(t *testing.T) {
	src, err := source.Open(sampleBucket(t))
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := ingest.Run(ctx, cutSource{src, cancel}, newRepo(t).rp, ingest.Options{Jobs: 2})
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Errorf("Run: %v; want an error saying it was interrupted", err)
	}
	if st.Failed != 0 || len(st.Failures) != 0 {
		t.Errorf("%d failed: %v; want none", st.Failed, st.Failures)
	}
	if !st.Interrupted || len(st.InFlight) == 0 {
		t.Errorf("interrupted %v, in flight %v; want the run interrupted with paths in flight", st.Interrupted, st.InFlight)
	}
}
