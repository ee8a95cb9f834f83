package gc_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nardedup/nardedup/admin"
	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/local"
	"github.com/nardedup/nardedup/chunkstore/lease"
	"github.com/nardedup/nardedup/gc"
	"github.com/nardedup/nardedup/ingest"
	"github.com/nardedup/nardedup/internal/sample"
	"github.com/nardedup/nardedup/internal/testrepo"
	"github.com/nardedup/nardedup/narfmt/nixhash"
	"github.com/nardedup/nardedup/narstore"
	nrepo "github.com/nardedup/nardedup/repo"
	"github.com/nardedup/nardedup/repo/layout"
	"github.com/nardedup/nardedup/source"
)

type repo struct {
	dir string
	be  backend.Backend
	rp  *nrepo.Repo
	st  *narstore.Store
}

func newRepo(t testing.TB, cfg nrepo.Config) *repo {
	t.Helper()
	dir := t.TempDir()
	be, err := local.Open(dir)
	must(t, err)
	r := &repo{dir: dir, be: be}
	r.rp = testrepo.Open(t, be, cfg, filepath.Join(t.TempDir(), "index.db"))
	r.st = r.rp.NARs()
	return r
}

// open opens the repository again with its local index at path.
func (r *repo) open(t testing.TB, path string) *nrepo.Repo {
	t.Helper()
	return testrepo.Open(t, r.be, nrepo.Config{}, path)
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// bucket writes the sample cache, keeping only the narinfos of paths (all
// of them if paths is nil).
func bucket(t testing.TB, paths []string) string {
	t.Helper()
	dir, err := sample.WriteBucket(filepath.Join(t.TempDir(), "bucket"))
	must(t, err)
	if paths == nil {
		return dir
	}
	keep := make(map[string]bool)
	for _, p := range paths {
		keep[hashOf(p)] = true
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.narinfo"))
	must(t, err)
	for _, f := range files {
		if !keep[strings.TrimSuffix(filepath.Base(f), ".narinfo")] {
			must(t, os.Remove(f))
		}
	}
	return dir
}

func hashOf(storePath string) string {
	base := filepath.Base(storePath)
	return base[:32]
}

func ingestInto(t testing.TB, rp *nrepo.Repo, dir string) *ingest.Stats {
	t.Helper()
	src, err := source.Open(dir)
	must(t, err)
	stats, err := ingest.Run(context.Background(), src, rp, ingest.Options{})
	must(t, err)
	return stats
}

// forget deletes the narinfos of paths.
func (r *repo) forget(t testing.TB, paths []string) {
	t.Helper()
	for _, p := range paths {
		err := r.be.Delete(context.Background(), layout.NarInfoOf(hashOf(p)).Key())
		if err != nil && !strings.Contains(err.Error(), "not exist") {
			t.Fatal(err)
		}
	}
}

// verify rebuilds every live NAR and checks it.
func verify(t testing.TB, st *narstore.Store) *admin.VerifyResult {
	t.Helper()
	res, err := admin.Verify(context.Background(), st, nil)
	must(t, err)
	for _, d := range res.Damaged {
		t.Errorf("damaged: %v", d)
	}
	return res
}

// check verifies every live NAR and that no pack or manifest is dead.
func (r *repo) check(t testing.TB, rp *nrepo.Repo) int {
	t.Helper()
	ctx := context.Background()
	st := rp.NARs()
	res := verify(t, st)
	// Every chunk and manifest that a live narinfo reaches.
	liveChunks := make(map[chunkstore.ID]bool)
	liveManifests := make(map[string]bool)
	err := st.ListNarInfos(ctx, func(h string) error {
		text, err := st.NarInfo(ctx, h)
		if err != nil {
			return err
		}
		nh := narHashOf(t, text)
		liveManifests[layout.ManifestOf(nh).Key()] = true
		m, err := st.Manifest(ctx, nh)
		if err != nil {
			return err
		}
		for _, ref := range append(append([]chunkstore.Ref{}, m.Recipe...), m.Positions...) {
			liveChunks[ref.ID] = true
		}
		return st.ResidueChunks(ctx, m, func(ref chunkstore.Ref) error {
			liveChunks[ref.ID] = true
			return nil
		})
	})
	must(t, err)
	err = r.be.List(ctx, "manifests/", func(fi backend.Info) error {
		if !liveManifests[fi.Key] {
			t.Errorf("dead manifest %s remains", fi.Key)
		}
		return nil
	})
	must(t, err)
	err = r.be.List(ctx, "packs/", func(fi backend.Info) error {
		id, err := chunkstore.ParseID(filepath.Base(fi.Key))
		must(t, err)
		toc, err := rp.Chunks().ReadTOC(ctx, id)
		must(t, err)
		for _, c := range toc.Chunks {
			if liveChunks[c.ID] {
				return nil
			}
		}
		t.Errorf("pack %s holds no live chunk", id)
		return nil
	})
	must(t, err)
	return res.NARs
}

func narHashOf(t testing.TB, text []byte) [32]byte {
	t.Helper()
	for line := range strings.SplitSeq(string(text), "\n") {
		if v, ok := strings.CutPrefix(line, "NarHash: "); ok {
			h, err := parseNarHash(v)
			must(t, err)
			return h
		}
	}
	t.Fatal("no NarHash")
	return [32]byte{}
}

func opts(t testing.TB) gc.Options {
	return gc.Options{Grace: -1, Wait: 10 * time.Second, Poll: 50 * time.Millisecond, TempDir: t.TempDir(),
		Logf: t.Logf}
}

// smallConfig makes many small packs, so that collections have packs to
// delete and to repack even in the small sample.
func smallConfig() nrepo.Config {
	cfg := nrepo.DefaultConfig()
	cfg.Chunks.PackSize = 256 << 10
	cfg.Chunks.GroupSize = 256 << 10
	return cfg
}

func TestCollectReclaimsForgottenGenerations(t *testing.T) {
	r := newRepo(t, smallConfig())
	for gen := 1; gen <= 3; gen++ {
		ingestInto(t, r.rp, bucket(t, sample.Paths(gen)))
	}
	g3 := make(map[string]bool)
	for _, p := range sample.Paths(3) {
		g3[p] = true
	}
	var old []string
	for _, gen := range []int{1, 2} {
		for _, p := range sample.Paths(gen) {
			if !g3[p] {
				old = append(old, p)
			}
		}
	}
	r.forget(t, old)
	before := r.size(t)

	o := opts(t)
	var phases []string
	o.Phase = func(p string) { phases = append(phases, p) }
	rep, err := gc.Collect(context.Background(), r.rp, o)
	must(t, err)
	t.Logf("report: %+v", rep)
	if got, want := strings.Join(phases, " "), "list mark condemn wait remark delete list"; got != want {
		t.Errorf("phases: got %q; want %q", got, want)
	}
	if rep.Pending != "" {
		t.Fatalf("pending: %s", rep.Pending)
	}
	if rep.DeletedPacks == 0 || rep.DeletedManifests == 0 {
		t.Errorf("deleted %d packs and %d manifests, want some of each", rep.DeletedPacks, rep.DeletedManifests)
	}
	if rep.After.Chunks >= rep.Before.Chunks || rep.After.Objects["packs"] >= rep.Before.Objects["packs"] {
		t.Errorf("chunks %d -> %d, packs %d -> %d", rep.Before.Chunks, rep.After.Chunks, rep.Before.Objects["packs"], rep.After.Objects["packs"])
	}
	after := r.size(t)
	if after >= before || rep.After.Bytes != after || rep.Before.Bytes != before {
		t.Errorf("repository %d bytes before, %d after; report says %d, %d", before, after, rep.Before.Bytes, rep.After.Bytes)
	}
	if n := r.check(t, r.rp); n != len(sample.Paths(3)) {
		t.Errorf("verified %d NARs, want %d", n, len(sample.Paths(3)))
	}
	if _, err := r.be.Stat(context.Background(), lease.CondemnedKey); err == nil {
		t.Error("condemned list left behind")
	}
	// A fresh index (another process) sees the same.
	st2 := r.open(t, filepath.Join(t.TempDir(), "index.db"))
	r.check(t, st2)

	// Nothing more to do.
	rep, err = gc.Collect(context.Background(), r.rp, opts(t))
	must(t, err)
	if rep.CondemnedPacks != 0 || rep.CondemnedManifests != 0 || rep.After.Bytes != after {
		t.Errorf("second collection: %+v", rep)
	}
}

func (r *repo) size(t testing.TB) int64 {
	var n int64
	err := r.be.List(context.Background(), "", func(fi backend.Info) error {
		if !strings.HasPrefix(fi.Key, "sessions/") {
			n += fi.Size
		}
		return nil
	})
	must(t, err)
	return n
}

func parseNarHash(s string) ([32]byte, error) {
	var sum [32]byte
	h, err := nixhash.Parse(s)
	if err != nil {
		return sum, err
	}
	copy(sum[:], h.Digest)
	return sum, nil
}
