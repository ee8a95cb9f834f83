package gc_test

import (
	"context"
	"sync"
	"testing"

	"github.com/nardedup/nardedup/gc"
	"github.com/nardedup/nardedup/internal/sample"
)

// The mark reports every narinfo it reads, its last call the live totals.
func TestProgressCountsMarkedNarInfos(t *testing.T) {
	r := newRepo(t, smallConfig())
	ingestInto(t, r.rp, bucket(t, sample.Paths(1)))
	var (
		mu           sync.Mutex
		calls, count int
		bytes        int64
	)
	rep, err := gc.Collect(context.Background(), r.rp, gc.Options{DryRun: true, Grace: -1,
		Progress: func(n int, b int64) {
			mu.Lock()
			defer mu.Unlock()
			calls++
			count, bytes = max(count, n), max(bytes, b)
		}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.LiveNarInfos == 0 || calls != rep.LiveNarInfos || count != rep.LiveNarInfos || bytes != rep.LiveNarBytes {
		t.Errorf("%d calls, up to %d narinfos and %d bytes; want %d, %d and %d",
			calls, count, bytes, rep.LiveNarInfos, rep.LiveNarInfos, rep.LiveNarBytes)
	}
}
