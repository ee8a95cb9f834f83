package faulttest

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/chunkstore"
	nrepo "github.com/nardedup/nardedup/repo"
	"github.com/nardedup/nardedup/repo/layout"
)

// TestIndexObjectBitRot damages each index object in each way and opens
// the repository with an empty local index, so that it is filled from the
// damaged object: no NAR may become unreadable (the pack's own table of
// contents replaces an index object that disagrees with its pack), and
// Rebuild from the packs rewrites the object as it was.
func TestIndexObjectBitRot(t *testing.T) {
	f := newFixture(t)
	damages := []objDamage{
		{"flip the frame count", flipAt(4), nil},
		{"flip a frame length", flipAt(6), nil},
		{"flip a chunk id", flipAt(-40), nil},
		{"flip a chunk offset", flipAt(-2), nil},
		{"truncate", truncateHalf, nil},
		// Sync lists index objects, not packs: the chunks of a pack
		// without one are missing until Rebuild from the packs.
		{"delete", deleteObject, []string{"chunk not found"}},
	}
	for _, pack := range f.packs() {
		key := "index/" + pack.String()
		for _, d := range damages {
			t.Run(fmt.Sprintf("%s/%s", pack.String()[:8], d.name), func(t *testing.T) {
				t.Parallel()
				r := f.clone(t, false)
				orig := readObject(t, r.be, key)
				damage(t, r, key, d.edit)
				must(t, r.open())
				if d.words == nil {
					checkClean(t, r)
				} else {
					want := f.hashesOf(usesChunk(func(l chunkstore.Location) bool { return l.Pack == pack }))
					checkDamaged(t, verify(t, r.st), want, d.words...)
				}
				must(t, r.close())
				res, err := nrepo.RebuildIndex(context.Background(), r.be, nrepo.Options{Chunks: chunkstore.Options{IndexPath: r.idx}}, true)
				must(t, err)
				if res.Rewritten != 1 || len(res.Damaged) != 0 {
					t.Errorf("rebuild from packs: got %d rewritten, damaged %v; want 1, none", res.Rewritten, res.Damaged)
				}
				if got := readObject(t, r.be, key); !bytes.Equal(got, orig) {
					t.Errorf("%s after rebuild: got %d bytes; want the original %d", key, len(got), len(orig))
				}
				must(t, r.open())
				checkClean(t, r)
			})
		}
	}
}

// TestConfigBitRot damages the repository config. Opening the repository
// must fail with an error about the config, or verify must list every NAR,
// or else (a field only writes use) every NAR must still verify.
func TestConfigBitRot(t *testing.T) {
	f := newFixture(t)
	value := func(field string) func([]byte) []byte {
		return func([]byte) []byte { return []byte(`"` + field + `": `) }
	}
	const clean, all = "", "every NAR"
	tests := []struct {
		d    objDamage
		want string // an error opening the repository, clean or all
	}{
		{objDamage{"flip the opening brace", flipAt(0), nil}, "parse config"},
		{objDamage{"flip a key", flipAfter(value("zstd_level"), 2), nil}, "unknown field"},
		{objDamage{"flip the version", flipAfter(value("version"), 11), nil}, "repository format"},
		{objDamage{"flip the polynomial", flipAfter(value("polynomial"), 20), nil}, "irreducible"},
		{objDamage{"flip the strip mode", flipAfter(value("strip"), 12), nil}, "strip mode"},
		{objDamage{"flip the store dir", flipAfter(value("store_dir"), 16), []string{"/nhx/store"}}, all},
		{objDamage{"flip the group size", flipAfter(value("group_size"), 14), nil}, clean},
		{objDamage{"flip the zstd level", flipAfter(value("zstd_level"), 14), nil}, clean},
		{objDamage{"truncate", truncateHalf, nil}, "parse config"},
		{objDamage{"delete", deleteObject, nil}, "holds no repository"},
	}
	for _, tt := range tests {
		t.Run(tt.d.name, func(t *testing.T) {
			t.Parallel()
			r := f.clone(t, true)
			damage(t, r, layout.Key(layout.Config, ""), tt.d.edit)
			err := r.open()
			switch {
			case tt.want == clean || tt.want == all:
				if err != nil {
					t.Fatalf("open: got %v; want it to open", err)
				}
			case err == nil || !strings.Contains(err.Error(), tt.want):
				t.Fatalf("open: got %v; want an error about %q", err, tt.want)
			default:
				return
			}
			if tt.want == clean {
				checkClean(t, r)
				return
			}
			checkDamaged(t, verify(t, r.st), f.hashesOf(func([32]byte, []chunkstore.Location) bool { return true }), tt.d.words...)
		})
	}
}
