package repo_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/mem"
	"github.com/nardedup/nardedup/internal/faulty"
	"github.com/nardedup/nardedup/internal/testrepo"
	"github.com/nardedup/nardedup/repo"
	"github.com/nardedup/nardedup/repo/layout"
)

func namesComplete(t *testing.T, be backend.Backend) bool {
	t.Helper()
	ok, err := repo.NamesComplete(context.Background(), be)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// A repository this release creates is marked from the start; Create on
// a backend that holds one already (of an older release) marks nothing.
func TestCreateMarksNamesComplete(t *testing.T) {
	ctx := context.Background()
	be := mem.New()
	if namesComplete(t, be) {
		t.Fatal("an empty backend is marked names-complete")
	}
	if _, err := repo.Create(ctx, be, repo.DefaultConfig()); err != nil {
		t.Fatal(err)
	}
	if !namesComplete(t, be) {
		t.Error("a new repository is not marked names-complete")
	}

	old := mem.New()
	if err := backend.PutBytes(ctx, old, "config", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Create(ctx, old, repo.DefaultConfig()); err == nil {
		t.Fatal("Create over an existing repository succeeded")
	}
	if namesComplete(t, old) {
		t.Error("a refused Create marked the existing repository names-complete")
	}
}

// AddNames marks the repository only once its pass has recorded every
// NAR: a pass that fails part way leaves it unmarked, and the next one,
// resuming, marks it.
func TestAddNamesMarksWhenComplete(t *testing.T) {
	ctx := context.Background()
	be, _, _ := testrepo.Sample(t)
	// As an earlier release left it: NARs without names objects, no marker.
	err := be.List(ctx, "", func(fi backend.Info) error {
		h, err := layout.Parse(fi.Key)
		if err != nil || (h.Type != layout.Names && h.Type != layout.NamesComplete) {
			return nil
		}
		return be.Delete(ctx, fi.Key)
	})
	if err != nil {
		t.Fatal(err)
	}
	opts := repo.Options{IndexCache: filepath.Join(t.TempDir(), "cache"), Role: "upgrade"}
	fb := faulty.New(be)
	fb.Inject(faulty.Rule{Op: faulty.OpPut, Prefix: layout.Names.Prefix(), Nth: 3})
	if _, err := repo.AddNames(ctx, fb, opts, t.Logf); !errors.Is(err, faulty.ErrInjected) {
		t.Fatalf("AddNames with failing writes: %v; want the injected fault", err)
	}
	if namesComplete(t, be) {
		t.Error("a failed AddNames marked the repository names-complete")
	}
	res, err := repo.AddNames(ctx, be, opts, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	if res.Names == 0 {
		t.Errorf("resumed AddNames wrote no names objects: %+v", res)
	}
	if !namesComplete(t, be) {
		t.Error("a completed AddNames left the repository unmarked")
	}
}
