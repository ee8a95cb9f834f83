package faulttest

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/admin"
	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/local"
	"github.com/nardedup/nardedup/ingest"
	"github.com/nardedup/nardedup/internal/sample"
	"github.com/nardedup/nardedup/narfmt/narinfo"
	"github.com/nardedup/nardedup/narfmt/nixhash"
	"github.com/nardedup/nardedup/narstore"
	nrepo "github.com/nardedup/nardedup/repo"
	"github.com/nardedup/nardedup/source"
)

// testConfig has small chunks, frames and packs, so that the sample cache
// spreads over several packs of several frames each.
func testConfig() nrepo.Config {
	cfg := nrepo.DefaultConfig()
	cc := &cfg.Chunks
	cc.Chunker.MinSize = 512
	cc.Chunker.AvgBits = 11
	cc.Chunker.MaxSize = 8 << 10
	cc.GroupSize = 24 << 10
	cc.PackSize = 48 << 10
	return cfg
}

// repo is a repository on a backend, with its local index file.
type repo struct {
	be     backend.Backend
	idx    string // local bbolt index
	bucket string // the sample binary cache
	rp     *nrepo.Repo
	st     *narstore.Store
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// newLocalRepo creates an empty repository in a temporary directory and
// opens it.
func newLocalRepo(t testing.TB) *repo {
	t.Helper()
	dir := t.TempDir()
	be, err := local.Open(filepath.Join(dir, "repo"))
	must(t, err)
	return newRepoOn(t, be, filepath.Join(dir, "index.db"))
}

// newRepoOn creates an empty repository on be and opens it; the test's
// cleanup closes it and be.
func newRepoOn(t testing.TB, be backend.Backend, idx string) *repo {
	t.Helper()
	_, err := nrepo.Create(context.Background(), be, testConfig())
	must(t, err)
	bucket, err := sample.WriteBucket(filepath.Join(filepath.Dir(idx), "bucket"))
	must(t, err)
	r := &repo{be: be, idx: idx, bucket: bucket}
	t.Cleanup(func() { r.close(); be.Close() })
	must(t, r.open())
	return r
}

// newSampleRepo returns a local repository holding the sample cache.
func newSampleRepo(t testing.TB) *repo {
	t.Helper()
	r := newLocalRepo(t)
	if _, err := r.ingest(); err != nil {
		t.Fatalf("ingest: %v", err)
	}
	return r
}

// open opens the chunk and NAR stores with the repository's local index.
func (r *repo) open() error {
	rp, err := nrepo.Open(context.Background(), r.be, nrepo.Options{Chunks: chunkstore.Options{IndexPath: r.idx}})
	if err != nil {
		return err
	}
	r.rp, r.st = rp, rp.NARs()
	return nil
}

// close closes the stores, if open, and returns the chunk store's error.
func (r *repo) close() error {
	if r.st == nil {
		return nil
	}
	err := r.rp.Close()
	r.rp, r.st = nil, nil
	return err
}

// reopen closes the stores and opens them again, as a new process would.
func (r *repo) reopen(t testing.TB) {
	t.Helper()
	r.close()
	must(t, r.open())
}

// ingest ingests the sample cache into the open repository.
func (r *repo) ingest() (*ingest.Stats, error) {
	return ingest.Run(context.Background(), source.NewDir(r.bucket), r.rp, ingest.Options{Jobs: 2})
}

// upstreamNAR is what a narinfo of the sample cache promises.
type upstreamNAR struct {
	hash    string // store path hash part
	narHash [32]byte
	size    uint64
}

// upstream returns the sample's narinfos, sorted by hash.
func upstream(t testing.TB, bucket string) []upstreamNAR {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(bucket, "*.narinfo"))
	must(t, err)
	var out []upstreamNAR
	for _, f := range files {
		text, err := os.ReadFile(f)
		must(t, err)
		ni, err := narinfo.Parse(bytes.NewReader(text))
		must(t, err)
		h, err := nixhash.Parse(ni.NarHash)
		must(t, err)
		u := upstreamNAR{hash: strings.TrimSuffix(filepath.Base(f), ".narinfo"), size: ni.NarSize}
		copy(u.narHash[:], h.Digest)
		out = append(out, u)
	}
	if len(out) == 0 {
		t.Fatalf("no narinfo in %s", bucket)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].hash < out[j].hash })
	return out
}

// deps returns, for every NAR of the sample, the locations of every chunk
// it needs: its recipe and positions chunks and the residue chunks its
// recipe lists. It reads the repository before any damage.
func (r *repo) deps(t testing.TB) map[[32]byte][]chunkstore.Location {
	t.Helper()
	ctx := context.Background()
	out := make(map[[32]byte][]chunkstore.Location)
	for _, u := range upstream(t, r.bucket) {
		if _, ok := out[u.narHash]; ok {
			continue
		}
		m, err := r.st.Manifest(ctx, u.narHash)
		must(t, err)
		ids := append(refIDs(m.Recipe), refIDs(m.Positions)...)
		ids = append(ids, r.residueIDs(t, m)...)
		var locs []chunkstore.Location
		for _, id := range ids {
			loc, err := r.rp.Chunks().Lookup(ctx, id)
			must(t, err)
			locs = append(locs, loc)
		}
		out[u.narHash] = locs
	}
	return out
}

func refIDs(refs []chunkstore.Ref) []chunkstore.ID {
	ids := make([]chunkstore.ID, len(refs))
	for i, r := range refs {
		ids[i] = r.ID
	}
	return ids
}

// residueIDs returns the chunks of the residue m describes, in order.
func (r *repo) residueIDs(t testing.TB, m *narstore.Manifest) []chunkstore.ID {
	t.Helper()
	var ids []chunkstore.ID
	must(t, r.st.ResidueChunks(context.Background(), m, func(ref chunkstore.Ref) error {
		ids = append(ids, ref.ID)
		return nil
	}))
	return ids
}

// verify runs admin.Verify and returns what it found damaged, by hash.
func verify(t testing.TB, st *narstore.Store) map[string]admin.Damage {
	t.Helper()
	res, err := admin.Verify(context.Background(), st, nil)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	got := make(map[string]admin.Damage)
	for _, d := range res.Damaged {
		got[d.Hash] = d
	}
	return got
}

// checkDamaged fails unless got names exactly the hashes of want, each with
// an error whose text holds every one of words.
func checkDamaged(t testing.TB, got map[string]admin.Damage, want map[string]bool, words ...string) {
	t.Helper()
	if len(want) == 0 {
		t.Fatal("test bug: no NAR expected to be damaged")
	}
	for h := range want {
		d, ok := got[h]
		if !ok {
			t.Errorf("verify: %s not listed as damaged; want listed", h)
			continue
		}
		for _, w := range words {
			if !strings.Contains(d.String(), w) {
				t.Errorf("verify: %s reported as %q; want it to mention %q", h, d, w)
			}
		}
	}
	for h, d := range got {
		if !want[h] {
			t.Errorf("verify: undamaged %s listed as %q; want not listed", h, d)
		}
	}
}

// checkClean fails if verify finds anything damaged or not every sample
// NAR is stored.
func checkClean(t testing.TB, r *repo) {
	t.Helper()
	res, err := admin.Verify(context.Background(), r.st, nil)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	for _, d := range res.Damaged {
		t.Errorf("verify: got damaged %s; want none", d)
	}
	if n := len(upstream(t, r.bucket)); res.NARs == 0 || len(res.Damaged) != 0 {
		t.Errorf("verify: %d NARs checked of %d narinfos", res.NARs, n)
	}
}

// readObject and writeObject edit one repository object.
func readObject(t testing.TB, be backend.Backend, key string) []byte {
	t.Helper()
	data, err := backend.ReadAll(context.Background(), be, key)
	must(t, err)
	return data
}

func writeObject(t testing.TB, be backend.Backend, key string, data []byte) {
	t.Helper()
	must(t, backend.PutBytes(context.Background(), be, key, data))
}

// keys lists the repository's objects under prefix, sorted.
func keys(t testing.TB, be backend.Backend, prefix string) []string {
	t.Helper()
	var out []string
	must(t, be.List(context.Background(), prefix, func(fi backend.Info) error {
		out = append(out, fi.Key)
		return nil
	}))
	sort.Strings(out)
	return out
}

// fixture is a closed repository holding the sample cache, with what its
// NARs depend on, to clone for each damage.
type fixture struct {
	dir    string // repository directory
	idx    string // its local index, up to date
	bucket string
	deps   map[[32]byte][]chunkstore.Location
	nars   []upstreamNAR
}

// newFixture ingests the sample cache into a local repository and closes it.
func newFixture(t testing.TB) *fixture {
	t.Helper()
	r := newSampleRepo(t)
	f := &fixture{dir: r.be.(*local.Backend).Dir(), idx: r.idx, bucket: r.bucket,
		deps: r.deps(t), nars: upstream(t, r.bucket)}
	must(t, r.close())
	return f
}

// clone copies the repository, and with warm its local index, to a new
// temporary directory, and returns it unopened.
func (f *fixture) clone(t testing.TB, warm bool) *repo {
	t.Helper()
	dir := t.TempDir()
	must(t, os.CopyFS(filepath.Join(dir, "repo"), os.DirFS(f.dir)))
	r := &repo{idx: filepath.Join(dir, "index.db"), bucket: f.bucket}
	if warm {
		data, err := os.ReadFile(f.idx)
		must(t, err)
		must(t, os.WriteFile(r.idx, data, 0o644))
	}
	be, err := local.Open(filepath.Join(dir, "repo"))
	must(t, err)
	r.be = be
	t.Cleanup(func() { r.close(); be.Close() })
	return r
}

// hashesOf returns the hashes of the sample's store paths whose NAR
// satisfies pred.
func (f *fixture) hashesOf(pred func(narHash [32]byte, locs []chunkstore.Location) bool) map[string]bool {
	out := make(map[string]bool)
	for _, u := range f.nars {
		if pred(u.narHash, f.deps[u.narHash]) {
			out[u.hash] = true
		}
	}
	return out
}

// usesChunk returns a predicate for hashesOf: some chunk of the NAR
// satisfies dep.
func usesChunk(dep func(chunkstore.Location) bool) func([32]byte, []chunkstore.Location) bool {
	return func(_ [32]byte, locs []chunkstore.Location) bool {
		for _, l := range locs {
			if dep(l) {
				return true
			}
		}
		return false
	}
}

// frames returns every frame of a pack that some NAR uses, by offset.
func (f *fixture) frames(pack chunkstore.ID) map[int64]chunkstore.Location {
	out := make(map[int64]chunkstore.Location)
	for _, locs := range f.deps {
		for _, l := range locs {
			if l.Pack == pack {
				out[l.FrameOffset] = l
			}
		}
	}
	return out
}

// packs returns the ids of the packs some NAR uses, sorted.
func (f *fixture) packs() []chunkstore.ID {
	seen := make(map[chunkstore.ID]bool)
	var out []chunkstore.ID
	for _, locs := range f.deps {
		for _, l := range locs {
			if !seen[l.Pack] {
				seen[l.Pack] = true
				out = append(out, l.Pack)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return bytes.Compare(out[i][:], out[j][:]) < 0 })
	return out
}
