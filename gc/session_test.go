package gc_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/lease"
	"github.com/nardedup/nardedup/gc"
	"github.com/nardedup/nardedup/internal/sample"
)

// A writer that has not loaded the condemned list holds the sweep back; the
// list stays for the next run, which finishes it once the writer caught
// up. A dead writer's announcement holds nothing back and is removed.
func TestSweepWaitsForWriters(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t, smallConfig())
	for gen := 1; gen <= 3; gen++ {
		ingestInto(t, r.rp, bucket(t, sample.Paths(gen)))
	}
	r.forget(t, sample.Paths(1))

	w := r.open(t, filepath.Join(t.TempDir(), "writer.db"))
	ss, err := w.Chunks().StartSession(ctx, lease.SessionOptions{Kind: "ingest", Heartbeat: time.Hour, Lease: time.Hour})
	must(t, err)
	defer ss.Close(ctx)

	o := opts(t)
	o.Wait = 300 * time.Millisecond
	rep, err := gc.Collect(ctx, r.rp, o)
	must(t, err)
	if rep.Pending == "" || rep.DeletedPacks+rep.DeletedManifests != 0 {
		t.Fatalf("with a writer behind: pending %q, deleted %d packs and %d manifests", rep.Pending, rep.DeletedPacks, rep.DeletedManifests)
	}
	cond, err := lease.LoadCondemned(ctx, r.be)
	if err != nil || cond == nil {
		t.Fatalf("condemned list: %v, %v", cond, err)
	}
	verify(t, r.st) // nothing live lost; the dead objects are still there
	t.Logf("left pending: %s", rep.Pending)

	// A dead writer: an announcement whose lease ran out long ago.
	dead := []byte(`{"id":"dead","kind":"ingest","views":[""],"lease":0.05}`)
	must(t, backend.PutBytes(ctx, r.be, lease.SessionsPrefix+"dead", dead))
	time.Sleep(100 * time.Millisecond)

	must(t, ss.Beat(ctx)) // the writer loads the list
	if w.Chunks().Lease().View() != cond.ID {
		t.Fatalf("writer's view %q, want %q", w.Chunks().Lease().View(), cond.ID)
	}
	o.Wait = 5 * time.Second
	rep, err = gc.Collect(ctx, r.rp, o)
	must(t, err)
	if !rep.FinishedEarlier || rep.Pending != "" || rep.DeletedManifests == 0 || rep.StaleSessions != 1 {
		t.Fatalf("second run: %+v", rep)
	}
	if _, err := r.be.Stat(ctx, lease.SessionsPrefix+"dead"); err == nil {
		t.Error("dead session left")
	}
	r.check(t, r.rp)
}
