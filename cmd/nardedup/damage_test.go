package main

import (
	"context"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/pack"
	"github.com/nardedup/nardedup/gc"
	"github.com/nardedup/nardedup/internal/testrepo"
)

// A pack whose own table of contents is damaged makes verify and
// rebuild-index --from-packs fail, naming the pack, although every NAR
// still reads back through the index objects.
func TestDamagedPackTableFails(t *testing.T) {
	ctx := context.Background()
	be, rp, _ := testrepo.Sample(t)
	var id chunkstore.ID
	if err := rp.Chunks().Packs(func(p chunkstore.ID) error { id = p; return nil }); err != nil {
		t.Fatal(err)
	}
	common := []string{"--repo", be.Dir(), "--index-cache", t.TempDir()}
	if err := app().Run(append([]string{"nardedup", "verify"}, common...)); err != nil {
		t.Fatalf("verify of the intact repository: %v", err)
	}
	key := chunkstore.PackKey(id)
	data, err := backend.ReadAll(ctx, be, key)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-pack.TrailerSize-3] ^= 0x20 // in the table
	if err := backend.PutBytes(ctx, be, key, data); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"verify"}, {"rebuild-index", "--from-packs"}} {
		err := app().Run(append(append([]string{"nardedup"}, args...), common...))
		if err == nil || !strings.Contains(err.Error(), id.String()) {
			t.Errorf("%s: %v; want an error naming pack %s", strings.Join(args, " "), err, id)
		}
	}
}

// gc's report names each damaged pack and the store paths that reach it.
func TestGCReportNamesDamagedPacks(t *testing.T) {
	id := chunkstore.Sum([]byte("pack"))
	var b strings.Builder
	printGCReport(&b, &gc.Report{Damaged: []gc.DamagedPack{{Pack: id, Err: chunkstore.ErrCorrupt,
		StorePaths: []string{"/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-x"}}}}, false)
	want := "DAMAGED pack " + id.String()
	if !strings.Contains(b.String(), want) || !strings.Contains(b.String(), "-x") {
		t.Errorf("report:\n%s\nwant a line %q… naming the store path", b.String(), want)
	}
}
