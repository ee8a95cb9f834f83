package chunkstore_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/mem"
	"github.com/nardedup/nardedup/chunkstore/forward"
	"github.com/nardedup/nardedup/internal/faulty"
	"github.com/nardedup/nardedup/repo/layout"
)

// listCounter counts the listings of index objects: the reloads of a
// store's index.
type listCounter struct {
	backend.Backend
	lists atomic.Int64
}

func (b *listCounter) List(ctx context.Context, prefix string, fn func(backend.Info) error) error {
	if prefix == layout.Index.Prefix() {
		b.lists.Add(1)
	}
	return b.Backend.List(ctx, prefix, fn)
}

// putForward stores the forward record of pack gone as a collection does:
// each of its chunks to its first location in another pack, as s indexes
// them.
func putForward(t *testing.T, s *chunkstore.Store, gone chunkstore.ID) {
	t.Helper()
	rec := &forward.Record{Pack: gone}
	err := s.PackChunks(gone, func(id chunkstore.ID, _ chunkstore.Location) error {
		return s.Locations(id, func(loc chunkstore.Location) error {
			if loc.Pack != gone && (len(rec.Entries) == 0 || rec.Entries[len(rec.Entries)-1].ID != id) {
				rec.Entries = append(rec.Entries, forward.Entry{ID: id, Loc: loc})
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := forward.Put(context.Background(), s.Backend(), rec); err != nil {
		t.Fatal(err)
	}
}

// repackAndDelete copies every chunk of the store's only pack into a new
// one, writes the old pack's forward record unless told not to, and
// deletes the old pack. It returns the old pack's locations by chunk.
func repackAndDelete(t *testing.T, w *chunkstore.Store, be backend.Backend, record bool) map[chunkstore.ID]chunkstore.Location {
	t.Helper()
	old := packsOf(t, be)
	if len(old) != 1 {
		t.Fatalf("%d packs, want 1", len(old))
	}
	locs := make(map[chunkstore.ID]chunkstore.Location)
	if err := w.PackChunks(old[0], func(id chunkstore.ID, loc chunkstore.Location) error {
		locs[id] = loc
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	copyAll(t, w, old[0], chunkstore.CopyOptions{ZstdLevel: 3, GroupSize: 1 << 20})
	if record {
		putForward(t, w, old[0])
	}
	deletePack(t, be, old[0])
	return locs
}

// ReadChunkAt reads a chunk at a location in a deleted pack through the
// pack's forward record, and names the chunk and the pack when there is
// none.
func TestReadChunkAtFollowsForwardRecord(t *testing.T) {
	ctx := context.Background()
	be := mem.New()
	w := openStore(t, be, filepath.Join(t.TempDir(), "writer.db"))
	defer w.Close()
	data := randomData(3, 200<<10)
	refs, _ := write(t, w, data)
	locs := repackAndDelete(t, w, be, true)
	var got []byte
	for _, ref := range refs {
		b, err := w.ReadChunkAt(ctx, ref, locs[ref.ID])
		if err != nil {
			t.Fatalf("chunk %s: %v", ref.ID, err)
		}
		got = append(got, b...)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("read through the forward record: wrong bytes")
	}

	// A second store of the same data, deleted without a record.
	be2 := mem.New()
	w2 := openStore(t, be2, filepath.Join(t.TempDir(), "writer2.db"))
	defer w2.Close()
	write(t, w2, data)
	locs = repackAndDelete(t, w2, be2, false)
	ref := refs[0]
	_, err := w2.ReadChunkAt(ctx, ref, locs[ref.ID])
	if !errors.Is(err, forward.ErrNotForwarded) || !strings.Contains(err.Error(), ref.ID.String()) ||
		!strings.Contains(err.Error(), locs[ref.ID].Pack.String()) {
		t.Fatalf("read of a chunk of a deleted pack without a record: %v", err)
	}
}

// A streaming reader whose index still points into a pack that was
// repacked and deleted follows the pack's forward record: it reads the
// copies without reloading its index.
func TestReaderFollowsForwardRecord(t *testing.T) {
	be := &listCounter{Backend: mem.New()}
	dir := t.TempDir()
	w := openStore(t, be, filepath.Join(dir, "writer.db"))
	defer w.Close()
	data := randomData(4, 200<<10)
	refs, _ := write(t, w, data)
	r := openStore(t, be, filepath.Join(dir, "reader.db")) // indexes the old pack only
	defer r.Close()
	repackAndDelete(t, w, be, true)

	before := be.lists.Load()
	got, err := readAll(t, r, refs)
	if err != nil {
		t.Fatalf("read after repack: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("read after repack: wrong bytes")
	}
	if n := be.lists.Load() - before; n != 0 {
		t.Errorf("the reader reloaded its index %d times; the forward record should have answered", n)
	}
}

// ReadChunk through an index that still names a repacked and deleted
// pack reads the copy: through the pack's forward record without
// reloading the index, or from the reloaded index when there is no record.
func TestReadChunkFollowsRepackedChunks(t *testing.T) {
	ctx := context.Background()
	for _, record := range []bool{true, false} {
		be := &listCounter{Backend: mem.New()}
		dir := t.TempDir()
		w := openStore(t, be, filepath.Join(dir, "writer.db"))
		data := randomData(5, 200<<10)
		refs, _ := write(t, w, data)
		r := openStore(t, be, filepath.Join(dir, "reader.db")) // indexes the old pack only
		repackAndDelete(t, w, be, record)

		before := be.lists.Load()
		var got []byte
		for _, ref := range refs {
			b, err := r.ReadChunk(ctx, ref.ID)
			if err != nil {
				t.Fatalf("record %v: chunk %s after repack: %v", record, ref.ID, err)
			}
			got = append(got, b...)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("record %v: read after repack: wrong bytes", record)
		}
		if n := be.lists.Load() - before; record && n != 0 || !record && n != 1 {
			t.Errorf("record %v: the reader reloaded its index %d times", record, n)
		}
		r.Close()
		w.Close()
	}
}

// A reader whose chunks all moved into one frame of another pack reads
// that frame once, through its frame cache, not once for each frame job
// that had to follow the forward record.
func TestReaderReadsRelocatedFrameOnce(t *testing.T) {
	be := faulty.New(mem.New())
	dir := t.TempDir()
	w := openStore(t, be, filepath.Join(dir, "writer.db"))
	defer w.Close()
	data := randomData(6, 200<<10) // four of testConfig's frames, one of the copy's
	refs, _ := write(t, w, data)
	r := openStore(t, be, filepath.Join(dir, "reader.db")) // indexes the old pack only
	defer r.Close()
	repackAndDelete(t, w, be, true)

	before := be.Calls(faulty.OpGet)
	got, err := readAll(t, r, refs)
	if err != nil {
		t.Fatalf("read after repack: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("read after repack: wrong bytes")
	}
	// The old pack's frames (each found missing), the forward record,
	// the new frame.
	if n, want := be.Calls(faulty.OpGet)-before, 4+1+1; n > want {
		t.Errorf("%d reads from the backend, want at most %d", n, want)
	}
}
