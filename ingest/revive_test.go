package ingest_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/internal/nixtest"
	"github.com/nardedup/nardedup/narstore"
	"github.com/nardedup/nardedup/repo/layout"
	"github.com/nardedup/nardedup/retention"
)

// Store path hashes of the sample (see internal/sample).
const (
	acl1  = "gcqgfxlb5qs7vgsasa4sg7f40hyf1ana"
	zlib1 = "d9h89hc7n3ky7m219c8qg7scg0dbp32a"
	zlib3 = "gp4miyfr3gm2p8b19c1mhc7azb7a7mbs"
	attr1 = "bcmi86m724clxx5vmrw80y1wq6cmpdb3"
)

// The three bzip2-man paths of the sample, one per generation, have the
// same NAR.
var manPages = []string{"j70k50dq2kh65ca8358b2ckh44iwbc6y", "mqz33z919n0ykm350jwhff7563svvvbn", "5c88rpiqzrqg610j3518bh5m23jngq2x"}

// tombstones returns the hashes of the repository's tombstones.
func (r *repo) tombstones(t testing.TB) []string {
	t.Helper()
	var hs []string
	must(t, r.st.ListTombstones(context.Background(), func(h string) error {
		hs = append(hs, h)
		return nil
	}))
	return hs
}

// A path forgotten with a tombstone comes back with the tombstone's
// narinfo, signatures and all, whether its NAR is still stored (linked) or
// must be stored again (as after garbage collection); the tombstone goes.
func TestReviveFromTombstone(t *testing.T) {
	ctx := context.Background()
	dir := sampleBucket(t)
	r := newRepo(t)
	st, err := r.ingestDir(t, dir)
	checkAllIngested(t, r, dir, st, err)
	if st.Revived != 0 {
		t.Errorf("first ingest revived %d paths; want 0", st.Revived)
	}
	orig := narinfos(t, dir)
	gone := append([]string{acl1, zlib1}, manPages...)
	rep, err := retention.Forget(ctx, r.st, retention.Rule{Paths: gone}, retention.Options{Tombstones: true})
	must(t, err)
	if len(rep.Forgotten) != len(gone) || len(r.tombstones(t)) != len(gone) {
		t.Fatalf("forgot %d paths, %d tombstones; want %d", len(rep.Forgotten), len(r.tombstones(t)), len(gone))
	}
	// Garbage collection would reclaim these manifests, no narinfo
	// reaching them any more.
	for _, h := range []string{zlib1, manPages[0]} {
		must(t, r.be.Delete(ctx, layout.ManifestOf(narHash(t, orig[h])).Key()))
	}
	// The source now offers the same NARs under narinfos without their
	// signatures.
	for _, h := range gone {
		must(t, os.WriteFile(filepath.Join(dir, h+".narinfo"), setField(orig[h], "Sig", ""), 0o644))
	}

	st, err = r.ingestDir(t, dir)
	if err != nil || st.Failed != 0 {
		t.Fatalf("ingest again: %v; failures %v", err, st.Failures)
	}
	if st.Revived != len(gone) || st.NARs != 2 || st.Committed+st.Linked != len(gone) || st.Skipped != len(orig)-len(gone) {
		t.Errorf("ingest again: revived %d, %d NARs, committed %d, linked %d, skipped %d; want %d revived, 2 NARs stored again",
			st.Revived, st.NARs, st.Committed, st.Linked, st.Skipped, len(gone))
	}
	checkNarInfosIdentical(t, r, orig)
	if ts := r.tombstones(t); len(ts) != 0 {
		t.Errorf("tombstones left after reviving: %q", ts)
	}
	for _, h := range []string{zlib1, manPages[0]} {
		rc, _, err := r.st.Open(ctx, narHash(t, orig[h]))
		must(t, err)
		n, err := io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil || n != sizeField(t, orig[h], "NarSize") {
			t.Errorf("NAR of %s stored again: %d bytes, %v", h, n, err)
		}
	}
}

// A tombstone of another NAR under the same store path (a newer build)
// gives way to the source's narinfo, and goes.
func TestTombstoneOfAnotherBuild(t *testing.T) {
	ctx := context.Background()
	dir := sampleBucket(t)
	nis := narinfos(t, dir)
	r := newRepo(t)
	other := setField(nis[zlib3], "NarHash", nixtest.Field(nis[attr1], "NarHash"))
	other = setField(other, "NarSize", nixtest.Field(nis[attr1], "NarSize"))
	must(t, r.st.PutTombstone(ctx, zlib3, other))

	st, err := r.ingestDir(t, dir)
	checkAllIngested(t, r, dir, st, err)
	if st.Revived != 1 {
		t.Errorf("revived %d; want 1", st.Revived)
	}
	if _, err := r.st.Tombstone(ctx, zlib3); !errors.Is(err, narstore.ErrNotFound) {
		t.Errorf("tombstone after ingest: %v; want ErrNotFound", err)
	}
}

// A damaged tombstone fails its store path by name and stays; the other
// paths are ingested.
func TestDamagedTombstone(t *testing.T) {
	ctx := context.Background()
	dir := sampleBucket(t)
	r := newRepo(t)
	must(t, r.st.PutTombstone(ctx, zlib3, []byte("StorePath: nonsense\n")))

	st, err := r.ingestDir(t, dir)
	if err == nil || st.Failed != 1 || st.Failures[0].Hash != zlib3 ||
		!strings.Contains(st.Failures[0].Err.Error(), layout.TombstoneOf(zlib3).Key()) {
		t.Fatalf("ingest: %v, failures %v; want %s failed, naming its tombstone", err, st.Failures, zlib3)
	}
	if st.Committed+st.Linked != len(narinfos(t, dir))-1 {
		t.Errorf("committed %d, linked %d; want every other path", st.Committed, st.Linked)
	}
	if ok, err := r.st.HasNarInfo(ctx, zlib3); err != nil || ok {
		t.Errorf("narinfo of %s with a damaged tombstone: %v, %v; want none", zlib3, ok, err)
	}
	if text, err := r.st.Tombstone(ctx, zlib3); err != nil || !bytes.Equal(text, []byte("StorePath: nonsense\n")) {
		t.Errorf("damaged tombstone after ingest: %q, %v; want it left alone", text, err)
	}
}
