package chunkstore_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/mem"
	"github.com/nardedup/nardedup/chunkstore/lease"
)

// packsOf returns the ids of the packs in the repository.
func packsOf(t *testing.T, be backend.Backend) []chunkstore.ID {
	t.Helper()
	var ids []chunkstore.ID
	err := be.List(context.Background(), "packs/", func(fi backend.Info) error {
		id, err := chunkstore.ParseID(filepath.Base(fi.Key))
		if err != nil {
			return err
		}
		ids = append(ids, id)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func deletePack(t *testing.T, be backend.Backend, id chunkstore.ID) {
	t.Helper()
	ctx := context.Background()
	for _, k := range []string{chunkstore.IndexKey(id), chunkstore.PackKey(id)} {
		if err := be.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
}

// copyAll copies every chunk of pack into new packs.
func copyAll(t *testing.T, s *chunkstore.Store, pack chunkstore.ID, opts chunkstore.CopyOptions) chunkstore.CopyResult {
	t.Helper()
	c, err := s.NewCopier(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CopyPack(context.Background(), pack, func(chunkstore.ID) bool { return true }); err != nil {
		t.Fatal(err)
	}
	res, err := c.Close(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// A reader whose index still points into a pack that was repacked and
// deleted reads the copies instead, and a store that syncs forgets the
// deleted pack.
func TestReaderFollowsRepackedChunks(t *testing.T) {
	be := mem.New()
	dir := t.TempDir()
	w := openStore(t, be, filepath.Join(dir, "writer.db"))
	defer w.Close()
	data := randomData(1, 200<<10)
	refs, _ := write(t, w, data)
	old := packsOf(t, be)
	if len(old) != 1 {
		t.Fatalf("%d packs, want 1", len(old))
	}
	// The reader indexes the original pack only.
	r := openStore(t, be, filepath.Join(dir, "reader.db"))
	defer r.Close()

	res := copyAll(t, w, old[0], chunkstore.CopyOptions{ZstdLevel: 4, GroupSize: 1 << 20})
	if res.Bytes != int64(len(data)) {
		t.Fatalf("copied %d bytes, want %d", res.Bytes, len(data))
	}
	deletePack(t, be, old[0])

	got, err := readAll(t, r, refs)
	if err != nil {
		t.Fatalf("read after repack: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("read after repack: wrong bytes")
	}
	if err := w.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := w.Packs(func(id chunkstore.ID) error {
		if id == old[0] {
			t.Error("deleted pack still indexed after Sync")
		}
		n++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("%d packs indexed, want 1", n)
	}
}

// A pack deleted without copies (damage) fails the read, naming the pack.
func TestReaderMissingPackNamesIt(t *testing.T) {
	be := mem.New()
	dir := t.TempDir()
	w := openStore(t, be, filepath.Join(dir, "writer.db"))
	defer w.Close()
	refs, _ := write(t, w, randomData(2, 100<<10))
	p := packsOf(t, be)[0]
	h := p.String()
	if err := be.Delete(context.Background(), chunkstore.PackKey(p)); err != nil {
		t.Fatal(err)
	}
	_, err := readAll(t, w, refs)
	if !errors.Is(err, backend.ErrNotExist) || !bytes.Contains([]byte(err.Error()), []byte(h)) {
		t.Fatalf("read of a missing pack: %v", err)
	}
}

// While a condemned list names the only pack holding a chunk, a writer
// that loaded it stores the chunk again; readers prefer the new copy.
func TestWriterAvoidsCondemnedPacks(t *testing.T) {
	be := mem.New()
	s := openStore(t, be, filepath.Join(t.TempDir(), "index.db"))
	defer s.Close()
	data := randomData(3, 150<<10)
	_, first := write(t, s, data)
	if first.NewChunks == 0 {
		t.Fatal("nothing stored")
	}
	_, again := write(t, s, data)
	if again.NewChunks != 0 {
		t.Fatalf("second write stored %d chunks, want 0", again.NewChunks)
	}
	old := packsOf(t, be)
	cond := &lease.Condemned{ID: "test-1", Packs: old, Objects: []string{"manifests/x"}}
	if err := backend.PutBytes(context.Background(), be, lease.CondemnedKey, cond.Encode()); err != nil {
		t.Fatal(err)
	}
	release := s.Lease().Hold() // an operation that began before the list was seen
	if err := s.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.Lease().View() != "test-1" || !s.Lease().IsCondemned("manifests/x") || s.Lease().IsCondemned("manifests/y") {
		t.Fatalf("view %q after loading the list", s.Lease().View())
	}
	if vs := s.Lease().Views(); !slices.Contains(vs, "") || !slices.Contains(vs, "test-1") {
		t.Fatalf("views %q, want the held old view and the new one", vs)
	}
	release()
	if vs := s.Lease().Views(); !slices.Equal(vs, []string{"test-1"}) {
		t.Fatalf("views %q after release", vs)
	}
	refs, third := write(t, s, data)
	if third.NewChunks != first.NewChunks {
		t.Fatalf("write after condemnation stored %d chunks, want %d", third.NewChunks, first.NewChunks)
	}
	for _, p := range old {
		deletePack(t, be, p)
	}
	got, err := readAll(t, s, refs)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read after the condemned packs went: %v", err)
	}
}

// A session announces itself, renews with its views, and a store whose
// session cannot renew refuses new references once half its lease passed.
func TestSessionLease(t *testing.T) {
	be := mem.New()
	s := openStore(t, be, filepath.Join(t.TempDir(), "index.db"))
	defer s.Close()
	ctx := context.Background()
	ss, err := s.StartSession(ctx, lease.SessionOptions{Kind: "ingest", Heartbeat: time.Hour, Lease: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	infos, err := lease.ListSessions(ctx, be)
	if err != nil || len(infos) != 1 || infos[0].Kind != "ingest" || infos[0].ID != ss.ID() ||
		!slices.Equal(infos[0].Views, []string{""}) || infos[0].ModTime.IsZero() {
		t.Fatalf("sessions %+v, %v", infos, err)
	}
	if err := s.Lease().CheckLease(); err != nil {
		t.Fatalf("fresh lease: %v", err)
	}
	time.Sleep(150 * time.Millisecond) // > half the lease, no heartbeat
	if err := s.Lease().CheckLease(); !errors.Is(err, lease.ErrLeaseExpired) {
		t.Fatalf("lapsed lease: %v", err)
	}
	if err := ss.Beat(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Lease().CheckLease(); err != nil {
		t.Fatalf("renewed lease: %v", err)
	}
	if err := ss.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if infos, _ := lease.ListSessions(ctx, be); len(infos) != 0 {
		t.Fatalf("session left after Close: %+v", infos)
	}
	if err := s.Lease().CheckLease(); err != nil {
		t.Fatalf("no session: %v", err)
	}
}

// A chunk early in a large frame is read by decoding the head of the frame
// only; every chunk, early or late, and the whole stream read back right.
func TestReadLargeFramePrefix(t *testing.T) {
	be := mem.New()
	s := openStore(t, be, filepath.Join(t.TempDir(), "index.db"))
	defer s.Close()
	data := repetitive(7, 20<<20, 1<<20)
	refs, _ := write(t, s, data)
	old := packsOf(t, be)
	c, err := s.NewCopier(chunkstore.CopyOptions{GroupSize: 32 << 20})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range old {
		if err := c.CopyPack(context.Background(), p, func(chunkstore.ID) bool { return true }); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, p := range old {
		deletePack(t, be, p)
	}
	r := openStore(t, be, filepath.Join(t.TempDir(), "fresh.db"))
	defer r.Close()
	loc, err := r.Lookup(context.Background(), refs[0].ID)
	if err != nil || loc.FrameULen < 16<<20 {
		t.Fatalf("first chunk in a frame of %d bytes (%v), want all 20 MiB in one", loc.FrameULen, err)
	}
	var off int
	for i, ref := range refs {
		end := off + int(ref.Size)
		if i == 0 || i == len(refs)/2 || i == len(refs)-1 {
			got, err := r.ReadChunk(context.Background(), ref.ID)
			if err != nil || !bytes.Equal(got, data[off:end]) {
				t.Fatalf("chunk %d of %d: %v", i, len(refs), err)
			}
		}
		off = end
	}
	got, err := readAll(t, r, refs[:3])
	if err != nil || !bytes.Equal(got, data[:len(got)]) || len(got) != int(refs[0].Size+refs[1].Size+refs[2].Size) {
		t.Fatalf("reading the first chunks: %v", err)
	}
	got, err = readAll(t, r, refs)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("reading the whole stream: %v", err)
	}
}
