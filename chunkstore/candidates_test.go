package chunkstore_test

import (
	"context"
	"io"
	"path/filepath"
	"slices"
	"testing"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/mem"
	"github.com/nardedup/nardedup/chunkstore/lease"
)

func openCandidates(t *testing.T, be backend.Backend) *chunkstore.Store {
	t.Helper()
	s, err := chunkstore.Open(context.Background(), be, testConfig(), chunkstore.Options{Candidates: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type located struct {
	ref chunkstore.Ref
	loc chunkstore.Location
}

// locateResult returns where each of refs lies, as res says.
func locateResult(t *testing.T, res chunkstore.WriteResult, refs []chunkstore.Ref) []located {
	t.Helper()
	var out []located
	i := 0
	err := res.LocateAll(func() (chunkstore.Ref, error) {
		if i == len(refs) {
			return chunkstore.Ref{}, io.EOF
		}
		i++
		return refs[i-1], nil
	}, func(r chunkstore.Ref, l chunkstore.Location) error {
		out = append(out, located{r, l})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// offer adds chunks to a store's candidates.
func offer(t *testing.T, s *chunkstore.Store, chunks []located) {
	t.Helper()
	i := 0
	err := s.AddCandidates(context.Background(), func() (chunkstore.ID, chunkstore.Location, error) {
		if i == len(chunks) {
			return chunkstore.ID{}, chunkstore.Location{}, io.EOF
		}
		i++
		return chunks[i-1].ref.ID, chunks[i-1].loc, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkLocated reads every chunk at its location.
func checkLocated(t *testing.T, s *chunkstore.Store, chunks []located) {
	t.Helper()
	for _, c := range chunks {
		if _, err := s.ReadChunkAt(context.Background(), c.ref, c.loc); err != nil {
			t.Fatalf("chunk %s at its location: %v", c.ref.ID, err)
		}
	}
}

// A store without an index deduplicates against the chunks it stored and
// those offered to it, and says where each chunk of a stream lies.
func TestCandidatesDedup(t *testing.T) {
	be := mem.New()
	data := randomData(7, 300<<10)
	a := openCandidates(t, be)
	refs, first := write(t, a, data)
	if first.NewChunks == 0 {
		t.Fatal("nothing stored")
	}
	stored := locateResult(t, first, refs)
	checkLocated(t, a, stored)
	_, again := write(t, a, data)
	if again.NewChunks != 0 {
		t.Fatalf("second write in one process stored %d chunks, want 0", again.NewChunks)
	}
	checkLocated(t, a, locateResult(t, again, refs))
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := be.Stat(context.Background(), "index/"+packsOf(t, be)[0].String()); err != nil {
		t.Fatalf("index object not written: %v", err)
	}

	// A new process knows nothing until offered the chunks.
	b := openCandidates(t, be)
	defer b.Close()
	offer(t, b, stored)
	_, third := write(t, b, data)
	if third.NewChunks != 0 {
		t.Fatalf("write after the offer stored %d chunks, want 0", third.NewChunks)
	}
	if got := locateResult(t, third, refs); !slices.Equal(got, stored) {
		t.Fatal("locations of the deduplicated chunks differ from where they were stored")
	}
}

// A candidate in a condemned pack is not used: the chunk is stored again,
// and the condemned pack's entries are gone once the list is.
func TestCandidatesAvoidCondemned(t *testing.T) {
	be := mem.New()
	ctx := context.Background()
	data := randomData(8, 200<<10)
	w := openStore(t, be, filepath.Join(t.TempDir(), "index.db"))
	refs, first := write(t, w, data)
	var stored []located
	for _, r := range refs {
		loc, err := w.Lookup(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, located{r, loc})
	}
	w.Close()
	old := packsOf(t, be)

	s := openCandidates(t, be)
	defer s.Close()
	offer(t, s, stored)
	cond := &lease.Condemned{ID: "test-1", Packs: old}
	if err := backend.PutBytes(ctx, be, lease.CondemnedKey, cond.Encode()); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	refs2, second := write(t, s, data)
	if second.NewChunks != first.NewChunks {
		t.Fatalf("write with the candidates' pack condemned stored %d chunks, want %d", second.NewChunks, first.NewChunks)
	}
	for _, l := range locateResult(t, second, refs2) {
		if slices.Contains(old, l.loc.Pack) {
			t.Fatalf("chunk %s located in condemned pack %s", l.ref.ID, l.loc.Pack)
		}
	}
	// The collection deletes the packs and its list; offering their
	// stale locations again adds nothing.
	for _, p := range old {
		deletePack(t, be, p)
	}
	if err := be.Delete(ctx, lease.CondemnedKey); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	offer(t, s, stored)
	refs3, third := write(t, s, data)
	if third.NewChunks != 0 {
		t.Fatalf("third write stored %d chunks, want 0 (the second stored them)", third.NewChunks)
	}
	got := locateResult(t, third, refs3)
	for _, l := range got {
		if slices.Contains(old, l.loc.Pack) {
			t.Fatalf("chunk %s located in deleted pack %s", l.ref.ID, l.loc.Pack)
		}
	}
	checkLocated(t, s, got)
}

// An offered location in a pack that a collection repacked and deleted is
// followed through the pack's forward record; without a record the chunk
// is stored again rather than deduplicated against a deleted pack.
func TestCandidatesFollowForwardRecords(t *testing.T) {
	for _, record := range []bool{true, false} {
		be := mem.New()
		data := randomData(9, 200<<10)
		w := openStore(t, be, filepath.Join(t.TempDir(), "index.db"))
		refs, first := write(t, w, data)
		stale := repackAndDelete(t, w, be, record)
		w.Close()
		live := packsOf(t, be)
		var offered []located
		for _, r := range refs {
			offered = append(offered, located{r, stale[r.ID]})
		}
		s := openCandidates(t, be)
		offer(t, s, offered)
		refs2, res := write(t, s, data)
		want := 0
		if !record {
			want = first.NewChunks
		}
		if res.NewChunks != want {
			t.Errorf("record %v: stored %d chunks, want %d", record, res.NewChunks, want)
		}
		got := locateResult(t, res, refs2)
		for _, l := range got {
			if record && !slices.Contains(live, l.loc.Pack) {
				t.Errorf("chunk %s located in pack %s, not in the repacked one", l.ref.ID, l.loc.Pack)
			}
		}
		checkLocated(t, s, got)
		s.Close()
	}
}
