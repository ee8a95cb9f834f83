package gc_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/pack"
	"github.com/nardedup/nardedup/gc"
	"github.com/nardedup/nardedup/internal/sample"
	nrepo "github.com/nardedup/nardedup/repo"
)

// tinyConfig makes frames and packs small enough for the sample to fill
// several recompressed groups.
func tinyConfig() nrepo.Config {
	cfg := nrepo.DefaultConfig()
	cfg.Chunks.Chunker.MinSize = 4 << 10
	cfg.Chunks.Chunker.AvgBits = 14
	cfg.Chunks.Chunker.MaxSize = 32 << 10
	cfg.Chunks.GroupSize = 32 << 10
	cfg.Chunks.PackSize = 64 << 10
	return cfg
}

// recompressOpts recompresses into groups of three times tinyConfig's, at
// libzstd's level 19 when the program has it and at klauspost's best
// otherwise: the selection is the same.
func recompressOpts(t *testing.T) gc.Options {
	o := opts(t)
	level := 19
	if !chunkstore.HasLibzstd {
		level = chunkstore.MaxKlauspostLevel
	}
	o.Recompress = gc.RecompressOptions{Enabled: true,
		Copy: chunkstore.CopyOptions{ZstdLevel: level, GroupSize: 3 * tinyConfig().Chunks.GroupSize}}
	return o
}

// packSet returns the packs of the repository.
func packSet(t *testing.T, be backend.Backend) map[string]bool {
	t.Helper()
	set := make(map[string]bool)
	must(t, be.List(context.Background(), "packs/", func(fi backend.Info) error {
		set[fi.Key] = true
		return nil
	}))
	return set
}

// Recompression copies the live chunks of the packs ingest wrote into
// larger frames, which take less space and read back; a second collection
// leaves them alone, and a third, after another ingest, recompresses only
// what that ingest wrote.
func TestRecompress(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t, tinyConfig())
	// The two largest store paths of the first generation first.
	var big, rest []string
	for _, p := range sample.Paths(1) {
		if strings.HasSuffix(p, "-bzip2-1.0.8") || strings.Contains(p, "-zlib-") {
			big = append(big, p)
		} else {
			rest = append(rest, p)
		}
	}
	ingestInto(t, r.rp, bucket(t, big))
	ingested := packSet(t, r.be)
	before := r.size(t)

	// Too young for the minimum age: nothing happens.
	o := recompressOpts(t)
	o.Recompress.MinAge = time.Hour
	rep, err := gc.Collect(ctx, r.rp, o)
	must(t, err)
	if rep.RecompressedPacks != 0 || rep.CondemnedPacks != 0 {
		t.Fatalf("recompressed %d packs younger than the minimum age", rep.RecompressedPacks)
	}

	rep, err = gc.Collect(ctx, r.rp, recompressOpts(t))
	must(t, err)
	t.Logf("first: recompressed %d packs, %d live bytes, into %+v; repository %d -> %d bytes",
		rep.RecompressedPacks, rep.RecompressLiveBytes, rep.Recompressed, rep.Before.Bytes, rep.After.Bytes)
	if rep.Pending != "" {
		t.Fatalf("pending: %s", rep.Pending)
	}
	if rep.RecompressedPacks != len(ingested) || rep.Recompressed.Chunks == 0 || rep.DeletedPacks != len(ingested) {
		t.Fatalf("recompressed %d packs (%d chunks) and deleted %d, want every one of the %d packs ingest wrote",
			rep.RecompressedPacks, rep.Recompressed.Chunks, rep.DeletedPacks, len(ingested))
	}
	first := r.size(t)
	if first >= before {
		t.Errorf("repository %d bytes after recompressing, %d before", first, before)
	}
	r.check(t, r.rp)
	r.check(t, r.open(t, t.TempDir()+"/index.db"))
	recompressed := packSet(t, r.be)

	// The packs just written are not candidates again.
	rep, err = gc.Collect(ctx, r.rp, recompressOpts(t))
	must(t, err)
	if rep.RecompressedPacks != 0 || rep.CondemnedPacks != 0 || r.size(t) != first {
		t.Fatalf("second collection recompressed %d packs, condemned %d; repository %d -> %d bytes",
			rep.RecompressedPacks, rep.CondemnedPacks, first, r.size(t))
	}

	// The rest: only its packs are recompressed.
	ingestInto(t, r.rp, bucket(t, rest))
	fresh := packSet(t, r.be)
	for k := range recompressed {
		delete(fresh, k)
	}
	rep, err = gc.Collect(ctx, r.rp, recompressOpts(t))
	must(t, err)
	t.Logf("third: recompressed %d packs, %d live bytes, into %+v", rep.RecompressedPacks, rep.RecompressLiveBytes, rep.Recompressed)
	if rep.RecompressedPacks != len(fresh) {
		t.Errorf("third collection recompressed %d packs, want the %d the last ingest wrote", rep.RecompressedPacks, len(fresh))
	}
	after := packSet(t, r.be)
	for k := range recompressed {
		if !after[k] {
			t.Errorf("pack %s, written by the first recompression, was copied again", k)
		}
	}
	r.check(t, r.open(t, t.TempDir()+"/index.db"))
}

// A dry run says what it would recompress and changes nothing; a group
// too small to tell recompressed packs apart is refused.
func TestRecompressDryRunAndOptions(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t, tinyConfig())
	ingestInto(t, r.rp, bucket(t, sample.Paths(1)))
	before := packSet(t, r.be)
	o := recompressOpts(t)
	o.DryRun = true
	rep, err := gc.Collect(ctx, r.rp, o)
	must(t, err)
	if rep.RecompressedPacks != len(before) || rep.Recompressed.Chunks != 0 || len(packSet(t, r.be)) != len(before) {
		t.Fatalf("dry run: would recompress %d of %d packs, copied %d chunks", rep.RecompressedPacks, len(before), rep.Recompressed.Chunks)
	}
	o = recompressOpts(t)
	o.Recompress.Copy.GroupSize = tinyConfig().Chunks.GroupSize
	if _, err := gc.Collect(ctx, r.rp, o); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("recompressing into the repository's group size: err %v", err)
	}
}

// Recompression puts the chunks of store paths in the order of their
// names, whatever order ingest stored them in.
func TestRecompressOrdersByName(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t, tinyConfig())
	ingestInto(t, r.rp, bucket(t, sample.Paths(1)))
	o := recompressOpts(t)
	o.Recompress.Copy.GroupSize = 4 << 20 // one frame
	o.Recompress.MinLiveBytes = -1
	rep, err := gc.Collect(ctx, r.rp, o)
	must(t, err)
	if rep.Recompressed.Frames != 1 {
		t.Fatalf("recompressed into %d frames, want 1", rep.Recompressed.Frames)
	}
	rp := r.open(t, t.TempDir()+"/index.db")
	st := rp.NARs()
	names := slices.Clone(sample.Paths(1))
	slices.SortFunc(names, func(a, b string) int { return strings.Compare(a[len("/nix/store/")+33:], b[len("/nix/store/")+33:]) })
	seen := make(map[chunkstore.ID]bool)
	last := -1
	for _, p := range names {
		text, err := st.NarInfo(ctx, hashOf(p))
		must(t, err)
		m, err := st.Manifest(ctx, narHashOf(t, text))
		must(t, err)
		first := -1 // offset of the first chunk that no earlier path reached
		must(t, st.ResidueChunks(ctx, m, func(ref chunkstore.Ref) error {
			if seen[ref.ID] {
				return nil
			}
			seen[ref.ID] = true
			loc, err := rp.Chunks().Lookup(ctx, ref.ID)
			if err == nil && (first < 0 || int(loc.Offset) < first) {
				first = int(loc.Offset)
			}
			return err
		}))
		if first < 0 {
			continue
		}
		if first < last {
			t.Errorf("%s: its chunks start at %d, before those of the paths named before it (%d)", p, first, last)
		}
		last = first
	}
	r.check(t, rp)
}

// Where the repository allows xz frames, recompression writes them by
// default, and every NAR reads back from them; elsewhere it writes zstd.
func TestRecompressXZ(t *testing.T) {
	if !chunkstore.HasLibxz {
		t.Skip("built without cgo")
	}
	ctx := context.Background()
	for _, allow := range []bool{true, false} {
		cfg := tinyConfig()
		cfg.Chunks.XZFrames = allow
		r := newRepo(t, cfg)
		ingestInto(t, r.rp, bucket(t, sample.Paths(1)))
		before := packSet(t, r.be)
		o := recompressOpts(t)
		o.Recompress.Copy.ZstdLevel = 0
		rep, err := gc.Collect(ctx, r.rp, o)
		must(t, err)
		if rep.Recompressed.Frames == 0 {
			t.Fatalf("allow %v: nothing recompressed", allow)
		}
		xz := 0
		for k := range packSet(t, r.be) {
			if before[k] {
				continue
			}
			id, err := chunkstore.ParseID(k[strings.LastIndexByte(k, '/')+1:])
			must(t, err)
			toc, err := r.rp.Chunks().ReadTOC(ctx, id)
			must(t, err)
			for _, f := range toc.Frames {
				if f.Codec == pack.CodecXZ {
					xz++
				}
			}
		}
		if want := map[bool]int{true: rep.Recompressed.Frames, false: 0}[allow]; xz != want {
			t.Fatalf("allow %v: %d xz frames of %d recompressed, want %d", allow, xz, rep.Recompressed.Frames, want)
		}
		r.check(t, r.rp)
		r.check(t, r.open(t, t.TempDir()+"/index.db"))
	}
}
