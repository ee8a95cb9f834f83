package chunkstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/mem"
)

// repetitive returns n bytes that repeat a random block of period bytes,
// with one byte in every KiB changed per repetition so that no two chunks
// are the same: only a window reaching back period bytes sees the repeats.
func repetitive(seed int64, n, period int) []byte {
	base := randomData(seed, period)
	out := make([]byte, n)
	for i := range out {
		out[i] = base[i%period]
	}
	for i := 0; i < n; i += 1 << 10 {
		out[i] ^= byte(1 + i/period)
	}
	return out
}

// copyEverything copies every chunk of the repository into new packs,
// deletes the old packs, and returns the result and the new packs. s then
// indexes the new packs only, as a store does once it has synced after a
// collection.
func copyEverything(t *testing.T, s *chunkstore.Store, opts chunkstore.CopyOptions) (chunkstore.CopyResult, []chunkstore.ID) {
	t.Helper()
	ctx := context.Background()
	old := packsOf(t, s.Backend())
	c, err := s.NewCopier(opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range old {
		if err := c.CopyPack(ctx, p, func(chunkstore.ID) bool { return true }); err != nil {
			t.Fatal(err)
		}
	}
	res, err := c.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range old {
		deletePack(t, s.Backend(), p)
	}
	// Until it syncs, s indexes each chunk in its old pack beside its copy,
	// and a lookup returns the location of lowest pack id: as likely the
	// deleted pack, which no forward record names here.
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	isOld := make(map[chunkstore.ID]bool)
	for _, p := range old {
		isOld[p] = true
	}
	var fresh []chunkstore.ID
	for _, p := range packsOf(t, s.Backend()) {
		if !isOld[p] {
			fresh = append(fresh, p)
		}
	}
	return res, fresh
}

// The store that copied reads every chunk by id from its copy, not from
// the deleted pack its index listed too: a pack id is random, so the old
// pack sorts first, where a lookup looks, for some chunk in most runs.
func TestCopyEverythingForgetsOldPacks(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, mem.New(), filepath.Join(t.TempDir(), "index.db"))
	defer s.Close()
	data := randomData(7, 1<<20)
	refs, _ := write(t, s, data)
	old := packsOf(t, s.Backend())
	_, fresh := copyEverything(t, s, chunkstore.CopyOptions{GroupSize: 1 << 20})
	for _, ref := range refs {
		err := s.Locations(ref.ID, func(loc chunkstore.Location) error {
			if slices.Contains(old, loc.Pack) || !slices.Contains(fresh, loc.Pack) {
				return fmt.Errorf("indexed in pack %s, not one of the copies %v", loc.Pack, fresh)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("chunk %s: %v", ref.ID, err)
		}
		if got, err := s.ReadChunk(ctx, ref.ID); err != nil || chunkstore.Sum(got) != ref.ID {
			t.Fatalf("read chunk %s by id after the copy: %v", ref.ID, err)
		}
	}
}

// maxFrame returns the largest decompressed frame of the packs.
func maxFrame(t *testing.T, s *chunkstore.Store, packs []chunkstore.ID) int {
	t.Helper()
	most := 0
	for _, p := range packs {
		toc, err := s.ReadTOC(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range toc.Frames {
			most = max(most, int(f.ULen))
		}
	}
	return most
}

// checkReadBack reads data back through a store with a fresh local index,
// which knows only the new packs.
func checkReadBack(t *testing.T, s *chunkstore.Store, refs []chunkstore.Ref, data []byte) {
	t.Helper()
	fresh := openStore(t, s.Backend(), filepath.Join(t.TempDir(), "fresh.db"))
	defer fresh.Close()
	got, err := readAll(t, fresh, refs)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: err %v, equal %v", err, bytes.Equal(got, data))
	}
	// One chunk on its own, from the middle of a frame.
	mid := refs[len(refs)/2]
	chunk, err := fresh.ReadChunk(context.Background(), mid.ID)
	if err != nil || chunkstore.Sum(chunk) != mid.ID {
		t.Fatalf("read chunk %s: err %v", mid.ID, err)
	}
}

// Frames that libzstd writes at high levels, with a window that spans the
// group and long distance matching, read back through the store's own
// decoder, and compress repeats farther apart than ingest's groups.
func TestCopyLibzstdLevels(t *testing.T) {
	if !chunkstore.HasLibzstd {
		t.Skip("built without cgo")
	}
	data := repetitive(1, 3<<20, 512<<10)
	for _, opts := range []chunkstore.CopyOptions{
		{ZstdLevel: 19, GroupSize: 4 << 20},
		{ZstdLevel: 22, GroupSize: 2 << 20, Workers: 2},
		{ZstdLevel: 9, GroupSize: 1 << 20, NoLongDistance: true, WindowLog: 20},
	} {
		s := openStore(t, mem.New(), filepath.Join(t.TempDir(), "index.db"))
		refs, wres := write(t, s, data)
		res, fresh := copyEverything(t, s, opts)
		if res.Bytes != int64(len(data)) || res.Chunks != len(refs) {
			t.Fatalf("%+v: copied %d chunks, %d bytes; want %d, %d", opts, res.Chunks, res.Bytes, len(refs), len(data))
		}
		// A group's first period is new, the rest repeats.
		if res.StoredBytes >= wres.StoredBytes*3/4 {
			t.Errorf("%+v: copies take %d bytes, ingest's frames %d: the repeats were not found", opts, res.StoredBytes, wres.StoredBytes)
		}
		if got := maxFrame(t, s, fresh); got <= s.Config().GroupSize || got > opts.GroupSize {
			t.Errorf("%+v: largest new frame %d bytes, want more than the repository's group %d and at most %d", opts, got, s.Config().GroupSize, opts.GroupSize)
		}
		checkReadBack(t, s, refs, data)
		s.Close()
	}
}

// A frame of MaxFrameSize bytes, whose matches reach back almost all of
// it, is within what the store's decoder accepts.
func TestCopyLibzstdLargestFrame(t *testing.T) {
	if !chunkstore.HasLibzstd {
		t.Skip("built without cgo")
	}
	if testing.Short() {
		t.Skip("compresses 64 MiB")
	}
	data := repetitive(2, chunkstore.MaxFrameSize+(1<<20), 48<<20)
	s := openStore(t, mem.New(), filepath.Join(t.TempDir(), "index.db"))
	defer s.Close()
	refs, _ := write(t, s, data)
	// The level matters little here, the window everything: a low one
	// keeps the test fast.
	res, fresh := copyEverything(t, s, chunkstore.CopyOptions{ZstdLevel: 5, GroupSize: chunkstore.MaxFrameSize})
	// A group takes whole source frames while they fit.
	if got := maxFrame(t, s, fresh); got < chunkstore.MaxFrameSize-s.Config().GroupSize {
		t.Fatalf("largest new frame %d bytes, want about %d", got, chunkstore.MaxFrameSize)
	}
	// The last 16 MiB of the big frame repeat its first: 3/4 of it is new.
	if res.StoredBytes > int64(len(data))*85/100 {
		t.Errorf("copies take %d bytes of %d: the repeats 48 MiB back were not found", res.StoredBytes, len(data))
	}
	checkReadBack(t, s, refs, data)
}

func TestCopyOptionsChecked(t *testing.T) {
	s := openStore(t, mem.New(), filepath.Join(t.TempDir(), "index.db"))
	defer s.Close()
	for _, opts := range []chunkstore.CopyOptions{
		{ZstdLevel: chunkstore.MaxZstdLevel + 1},
		{ZstdLevel: -1},
		{GroupSize: chunkstore.MaxFrameSize + 1},
		{WindowLog: chunkstore.MaxWindowLog + 1},
		{WindowLog: 9},
	} {
		if c, err := s.NewCopier(opts); err == nil {
			c.Close(context.Background())
			t.Errorf("%+v: no error", opts)
		}
	}
	c, err := s.NewCopier(chunkstore.CopyOptions{ZstdLevel: 19})
	if chunkstore.HasLibzstd {
		if err != nil {
			t.Fatal(err)
		}
		c.Close(context.Background())
	} else if err == nil || !strings.Contains(err.Error(), "without cgo") {
		t.Fatalf("level 19 without cgo: err %v, want one that says so", err)
	}
}

// Copies compressed by several workers land in the order their groups
// were filled: a stream copied from one pack lies in the new frames in
// order, one run of chunks a frame.
func TestCopyWorkersKeepOrder(t *testing.T) {
	ctx := context.Background()
	be := mem.New()
	cfg := testConfig()
	cfg.PackSize = 8 << 20 // one pack before and after
	s := openStoreWith(t, be, cfg, filepath.Join(t.TempDir(), "index.db"))
	defer s.Close()
	data := randomData(3, 2<<20)
	refs, _ := write(t, s, data)
	res, fresh := copyEverything(t, s, chunkstore.CopyOptions{GroupSize: 128 << 10, Workers: 4})
	checkReadBack(t, s, refs, data)
	if len(fresh) != 1 || res.Frames < 8 {
		t.Fatalf("copied into %d packs, %d frames; want 1 pack, at least 8 frames", len(fresh), res.Frames)
	}
	// A fresh index knows only the new pack.
	r := openStore(t, be, filepath.Join(t.TempDir(), "fresh.db"))
	defer r.Close()
	runs := 0
	var last chunkstore.Location
	for i, ref := range refs {
		loc, err := r.Lookup(ctx, ref.ID)
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 && loc.FrameOffset < last.FrameOffset {
			t.Fatalf("chunk %d lies in the frame at %d, before the previous chunk's at %d", i, loc.FrameOffset, last.FrameOffset)
		}
		if i == 0 || loc.FrameOffset != last.FrameOffset {
			runs++
		}
		last = loc
	}
	if runs != res.Frames {
		t.Fatalf("the stream reads %d runs of frames, there are %d frames", runs, res.Frames)
	}
}

// BenchmarkReadChunkFrameSize reads one small chunk from the middle of a
// frame of each size: a reader decompresses the whole frame, which is
// what larger recompressed groups cost when serving a small NAR.
func BenchmarkReadChunkFrameSize(b *testing.B) {
	ctx := context.Background()
	check := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	for _, size := range []int{4 << 20, 16 << 20, 32 << 20, chunkstore.MaxFrameSize} {
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			be := mem.New()
			cfg := testConfig()
			cfg.PackSize = chunkstore.MaxFrameSize
			s, err := chunkstore.Open(ctx, be, cfg, chunkstore.Options{IndexPath: filepath.Join(b.TempDir(), "index.db")})
			check(err)
			defer s.Close()
			var refs []chunkstore.Ref
			w := s.NewWriter(ctx, func(r chunkstore.Ref) error { refs = append(refs, r); return nil })
			_, err = w.Write(repetitive(4, size, 1<<20))
			check(err)
			_, err = w.Close()
			check(err)
			check(s.Flush(ctx))
			opts := chunkstore.CopyOptions{GroupSize: size, ZstdLevel: chunkstore.MaxKlauspostLevel}
			if chunkstore.HasLibzstd {
				opts.ZstdLevel = 5
			}
			c, err := s.NewCopier(opts)
			check(err)
			var old []chunkstore.ID
			check(s.Packs(func(id chunkstore.ID) error { old = append(old, id); return nil }))
			for _, p := range old {
				check(c.CopyPack(ctx, p, func(chunkstore.ID) bool { return true }))
			}
			_, err = c.Close(ctx)
			check(err)
			for _, p := range old {
				check(be.Delete(ctx, chunkstore.IndexKey(p)))
				check(be.Delete(ctx, chunkstore.PackKey(p)))
			}
			r, err := chunkstore.Open(ctx, be, cfg, chunkstore.Options{IndexPath: filepath.Join(b.TempDir(), "fresh.db")})
			check(err)
			defer r.Close()
			mid := refs[len(refs)/2].ID
			if loc, err := r.Lookup(ctx, mid); err != nil || int(loc.FrameULen) < size/2 {
				b.Fatalf("chunk in a frame of %d bytes (%v), want about %d", loc.FrameULen, err, size)
			}
			b.SetBytes(int64(size))
			b.ResetTimer()
			for b.Loop() {
				_, err := r.ReadChunk(ctx, mid)
				check(err)
			}
		})
	}
}

// A pack damaged in a frame holding a chunk to copy is skipped whole:
// none of its chunks are copied, not even those of the frames before the
// damage, the error names the pack and the damaged frame's chunks, and
// the copier goes on with the next pack. Its frames are copied from
// memory, or read again when they do not fit (staged 0).
func TestCopyPackSkipsDamagedPack(t *testing.T) {
	t.Run("staged", func(t *testing.T) { testCopyPackSkipsDamagedPack(t) })
	t.Run("staged0", func(t *testing.T) {
		defer chunkstore.SetMaxStaged(0)()
		testCopyPackSkipsDamagedPack(t)
	})
}

func testCopyPackSkipsDamagedPack(t *testing.T) {
	ctx := context.Background()
	be := mem.New()
	s := openStore(t, be, filepath.Join(t.TempDir(), "index.db"))
	defer s.Close()
	dataA := randomData(5, 200<<10)
	refsA, _ := write(t, s, dataA)
	packA := packsOf(t, be)
	refsB, _ := write(t, s, randomData(6, 200<<10))
	var packB chunkstore.ID
	for _, p := range packsOf(t, be) {
		if p != packA[0] {
			packB = p
		}
	}
	if len(packA) != 1 || len(packsOf(t, be)) != 2 {
		t.Fatalf("want one pack a stream, got %d then %d", len(packA), len(packsOf(t, be)))
	}
	frames, err := s.PackFrames(packB)
	if err != nil || len(frames) < 3 {
		t.Fatalf("pack %s: %d frames (%v); want at least 3", packB, len(frames), err)
	}
	bad := frames[len(frames)-1]
	data, err := backend.ReadAll(ctx, be, chunkstore.PackKey(packB))
	if err != nil {
		t.Fatal(err)
	}
	data[bad.Loc.FrameOffset+int64(bad.Loc.FrameCLen)/2] ^= 0x20
	if err := backend.PutBytes(ctx, be, chunkstore.PackKey(packB), data); err != nil {
		t.Fatal(err)
	}

	c, err := s.NewCopier(chunkstore.CopyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	all := func(chunkstore.ID) bool { return true }
	err = c.CopyPack(ctx, packB, all)
	var de *chunkstore.DamagedPackError
	if !errors.As(err, &de) || !errors.Is(err, chunkstore.ErrCorrupt) || de.Pack != packB || de.Frames != 1 {
		t.Fatalf("copy of damaged pack %s: %v; want a DamagedPackError naming it", packB, err)
	}
	if !slices.Equal(de.Chunks, bad.Chunks) {
		t.Errorf("damaged chunks %v; want those of the damaged frame %v", de.Chunks, bad.Chunks)
	}
	if err := c.CopyPack(ctx, packA[0], all); err != nil {
		t.Fatalf("copy of pack %s after a damaged one: %v", packA[0], err)
	}
	res, err := c.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Chunks != len(refsA) {
		t.Fatalf("copied %d chunks; want the %d of the intact pack only", res.Chunks, len(refsA))
	}
	deletePack(t, be, packA[0])
	checkReadBack(t, s, refsA, dataA)
	// The new pack holds no chunk of the damaged one.
	inB := make(map[chunkstore.ID]bool)
	for _, r := range refsB {
		inB[r.ID] = true
	}
	for _, p := range packsOf(t, be) {
		if p == packA[0] || p == packB {
			continue
		}
		toc, err := s.ReadTOC(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, ci := range toc.Chunks {
			if inB[ci.ID] {
				t.Fatalf("new pack %s holds chunk %s of the damaged pack", p, ci.ID)
			}
		}
	}
}
