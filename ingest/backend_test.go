package ingest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/nardedup/nardedup/chunkstore/backend/local"
	"github.com/nardedup/nardedup/ingest"
	"github.com/nardedup/nardedup/internal/faulty"
	"github.com/nardedup/nardedup/source"
)

// TestBackendFailure makes the repository fail one write and checks that
// the store paths it concerns are reported and none of them is visible.
func TestBackendFailure(t *testing.T) {
	for _, prefix := range []string{"manifests/", "narinfo/", "packs/"} {
		t.Run(prefix, func(t *testing.T) {
			dir := sampleBucket(t)
			inner, err := local.Open(t.TempDir())
			must(t, err)
			be := faulty.New(inner)
			r := newRepoOn(t, be, t.TempDir())
			be.Inject(faulty.Rule{Op: faulty.OpPut, Prefix: prefix, Nth: 1, Times: 1})
			src, err := source.Open(dir)
			must(t, err)
			st, err := ingest.Run(context.Background(), src, r.rp, ingest.Options{})
			t.Logf("Run: %v; committed %d, linked %d, failures %v", err, st.Committed, st.Linked, st.Failures)
			if err == nil || st.Failed == 0 {
				t.Fatal("Run reported no failure")
			}
			checkFailuresInvisible(t, r, dir, st)
		})
	}
}

// checkFailuresInvisible checks that each failed store path has no narinfo
// and each other one has.
func checkFailuresInvisible(t *testing.T, r *repo, dir string, st *ingest.Stats) {
	t.Helper()
	failed := make(map[string]bool)
	for _, f := range st.Failures {
		if failed[f.Hash] {
			t.Errorf("%s reported twice", f.Hash)
		}
		failed[f.Hash] = true
		if !errors.Is(f.Err, faulty.ErrInjected) {
			t.Errorf("%s: %v; want the injected fault", f.Hash, f.Err)
		}
	}
	nis := narinfos(t, dir)
	if st.Failed != len(failed) || st.Committed+st.Linked+st.Failed != len(nis) {
		t.Errorf("committed %d, linked %d, failed %d (%d paths); want %d in all",
			st.Committed, st.Linked, st.Failed, len(failed), len(nis))
	}
	for h := range nis {
		ok, err := r.st.HasNarInfo(context.Background(), h)
		must(t, err)
		if ok == failed[h] {
			t.Errorf("HasNarInfo(%s) = %v, failed %v", h, ok, failed[h])
		}
	}
}

// TestFullDiskStoresNothing fails every narinfo write, as a full disk
// does, and checks that no NAR and no byte is counted as stored.
func TestFullDiskStoresNothing(t *testing.T) {
	dir := sampleBucket(t)
	inner, err := local.Open(t.TempDir())
	must(t, err)
	be := faulty.New(inner)
	r := newRepoOn(t, be, t.TempDir())
	be.Inject(faulty.Rule{Op: faulty.OpPut, Prefix: "narinfo/"})
	src, err := source.Open(dir)
	must(t, err)
	st, err := ingest.Run(context.Background(), src, r.rp, ingest.Options{MaxConsecutiveFailures: -1})
	if err == nil || st.Failed == 0 || st.NARs == 0 {
		t.Fatalf("Run: %v; failed %d, NARs read %d; want failures after NARs were read", err, st.Failed, st.NARs)
	}
	if st.Committed != 0 || st.StoredBytes != 0 || st.Cuts != 0 || st.Chunks != 0 || st.NewChunks != 0 {
		t.Errorf("nothing visible, yet committed %d, stored bytes %d, cuts %d, chunks %d (%d new)",
			st.Committed, st.StoredBytes, st.Cuts, st.Chunks, st.NewChunks)
	}
	checkFailuresInvisible(t, r, dir, st)
}
