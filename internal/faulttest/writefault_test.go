package faulttest

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/chunkstore/backend/local"
	"github.com/nardedup/nardedup/ingest"
	"github.com/nardedup/nardedup/internal/faulty"
)

// TestIngestWriteFaults ingests the sample cache while the backend fails
// one kind of write, and checks that the ingest reports the failure by
// name, that every store path it made visible verifies, and that a second
// ingest without the fault completes.
func TestIngestWriteFaults(t *testing.T) {
	noSpace := func(prefix string, nth, times int) faulty.Rule {
		return faulty.Rule{Op: faulty.OpPut, Prefix: prefix, Nth: nth, Times: times, Err: faulty.ErrNoSpace}
	}
	cut := func(prefix string, nth int, after int64) faulty.Rule {
		return faulty.Rule{Op: faulty.OpPut, Prefix: prefix, Nth: nth, Times: 1, Kind: faulty.CutStream,
			CutAfter: after, Err: faulty.ErrNoSpace}
	}
	lostAck := func(prefix string, nth int) faulty.Rule {
		return faulty.Rule{Op: faulty.OpPut, Prefix: prefix, Nth: nth, Times: 1, Kind: faulty.FailAfter}
	}
	tests := []struct {
		name  string
		rule  faulty.Rule
		words []string // in the error of some failed store path
	}{
		{"disk full on the first pack", noSpace("packs/", 1, 1), []string{"store pack", "no space left"}},
		{"disk full on the third pack", noSpace("packs/", 3, 1), []string{"store pack", "no space left"}},
		{"disk full from the second pack on", noSpace("packs/", 2, 0), []string{"store pack", "no space left"}},
		{"disk full on an index object", noSpace("index/", 2, 1), []string{"store index of pack", "no space left"}},
		{"disk full on a manifest", noSpace("manifests/", 3, 1), []string{"write manifests/", "no space left"}},
		{"disk full on every manifest", noSpace("manifests/", 1, 0), []string{"write manifests/", "no space left"}},
		{"disk full on a narinfo", noSpace("narinfo/", 4, 1), []string{"write narinfo/", "no space left"}},
		{"pack stream cut", cut("packs/", 2, 4096), []string{"store pack", "no space left"}},
		{"manifest stream cut", cut("manifests/", 2, 40), []string{"write manifests/", "no space left"}},
		{"narinfo stream cut", cut("narinfo/", 2, 100), []string{"write narinfo/", "no space left"}},
		{"pack stored, acknowledgement lost", lostAck("packs/", 2), []string{"store pack", "injected"}},
		{"narinfo stored, acknowledgement lost", lostAck("narinfo/", 2), []string{"write narinfo/", "injected"}},
	}
	total := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			lb, err := local.Open(filepath.Join(dir, "repo"))
			must(t, err)
			fb := faulty.New(lb)
			r := newRepoOn(t, fb, filepath.Join(dir, "index.db"))
			fb.Inject(tt.rule)
			stats, err := r.ingest()
			if fb.Faults() == 0 {
				t.Fatalf("rule %+v never fired", tt.rule)
			}
			total += fb.Faults()
			checkFailures(t, stats, err, tt.words)
			fb.Clear()
			r.reopen(t)
			checkVisible(t, r)
			if stats, err := r.ingest(); err != nil {
				t.Fatalf("ingest without the fault: got %v (%v); want success", err, stats.Failures)
			}
			checkClean(t, r)
			if n := len(keys(t, r.be, "narinfo/")); n != len(upstream(t, r.bucket)) {
				t.Errorf("after the second ingest: got %d narinfos; want %d", n, len(upstream(t, r.bucket)))
			}
		})
	}
	t.Logf("%d faults injected", total)
}

// checkFailures fails unless an ingest returned an error and named at
// least one failed store path with an error holding every one of words.
func checkFailures(t testing.TB, stats *ingest.Stats, err error, words []string) {
	t.Helper()
	if err == nil {
		t.Fatalf("ingest: got success; want an error")
	}
	for _, f := range stats.Failures {
		ok := true
		for _, w := range words {
			ok = ok && strings.Contains(f.Err.Error(), w)
		}
		if ok {
			return
		}
	}
	t.Errorf("ingest: got error %v, failures %v; want a store path failed with %q", err, stats.Failures, words)
}

// checkVisible fails unless every visible narinfo is the upstream one,
// byte for byte, and verify finds nothing damaged.
func checkVisible(t testing.TB, r *repo) {
	t.Helper()
	for _, key := range keys(t, r.be, "narinfo/") {
		want, err := os.ReadFile(filepath.Join(r.bucket, strings.TrimPrefix(key, "narinfo/")))
		must(t, err)
		if got := readObject(t, r.be, key); !bytes.Equal(got, want) {
			t.Errorf("%s: got %q; want the upstream narinfo", key, got)
		}
	}
	for _, d := range verify(t, r.st) {
		t.Errorf("verify after the fault: got damaged %s; want none", d)
	}
}
