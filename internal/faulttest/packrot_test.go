package faulttest

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/chunkstore"
	nrepo "github.com/nardedup/nardedup/repo"
)

// packDamage is one way to damage a pack. damage gets the pack's bytes and
// the frames NARs use in it, and returns the damaged bytes (nil: delete the
// pack) and which chunk locations no longer read back.
type packDamage struct {
	name   string
	damage func(data []byte, frames []chunkstore.Location) ([]byte, func(chunkstore.Location) bool)
	words  []string // the kind of damage, as verify must report it
	// unindexable: Rebuild from the packs cannot read the pack's table of
	// contents and must report the pack as damaged.
	unindexable bool
}

var packDamages = []packDamage{
	{"flip a byte in a frame", func(data []byte, frames []chunkstore.Location) ([]byte, func(chunkstore.Location) bool) {
		fr := frames[len(frames)/2]
		data[fr.FrameOffset+int64(fr.FrameCLen)/2] ^= 0x20
		return data, func(l chunkstore.Location) bool { return l.FrameOffset == fr.FrameOffset }
	}, []string{"corrupt"}, false},
	{"truncate", func(data []byte, frames []chunkstore.Location) ([]byte, func(chunkstore.Location) bool) {
		fr := frames[len(frames)/2]
		cut := fr.FrameOffset + int64(fr.FrameCLen)/2
		return data[:cut], func(l chunkstore.Location) bool { return l.FrameOffset+int64(l.FrameCLen) > cut }
	}, []string{"corrupt", "short read"}, true},
	{"delete", func([]byte, []chunkstore.Location) ([]byte, func(chunkstore.Location) bool) {
		return nil, func(chunkstore.Location) bool { return true }
	}, []string{"does not exist"}, false},
}

// TestPackBitRot damages each pack of the sample repository in each way,
// with the local index up to date (warm) and rebuilt from the index objects
// (cold), and checks that verify lists exactly the store paths whose NAR has
// a chunk in a damaged frame, naming the pack and the damage.
func TestPackBitRot(t *testing.T) {
	f := newFixture(t)
	packs := f.packs()
	if len(packs) < 3 {
		t.Fatalf("sample spans %d packs; want at least 3", len(packs))
	}
	for _, pack := range packs {
		frames := sortedFrames(f.frames(pack))
		for _, pd := range packDamages {
			for _, warm := range []bool{true, false} {
				name := fmt.Sprintf("%s/%s/warm=%v", pack.String()[:8], pd.name, warm)
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					r := f.clone(t, warm)
					key := chunkstore.PackKey(pack)
					data, lost := pd.damage(readObject(t, r.be, key), frames)
					if data == nil {
						must(t, r.be.Delete(context.Background(), key))
					} else {
						writeObject(t, r.be, key, data)
					}
					must(t, r.open())
					want := f.hashesOf(usesChunk(func(l chunkstore.Location) bool { return l.Pack == pack && lost(l) }))
					checkDamaged(t, verify(t, r.st), want, append([]string{pack.String()}, pd.words...)...)
					if !warm {
						checkRebuildReports(t, r, pack, pd.unindexable)
					}
				})
			}
		}
	}
}

// sortedFrames returns frames ordered by offset.
func sortedFrames(frames map[int64]chunkstore.Location) []chunkstore.Location {
	out := make([]chunkstore.Location, 0, len(frames))
	for _, l := range frames {
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].FrameOffset < out[j].FrameOffset })
	return out
}

// checkRebuildReports rebuilds the local index from the packs and checks
// that it reports pack as damaged if and only if want.
func checkRebuildReports(t *testing.T, r *repo, pack chunkstore.ID, want bool) {
	t.Helper()
	must(t, r.close())
	res, err := nrepo.RebuildIndex(context.Background(), r.be, nrepo.Options{Chunks: chunkstore.Options{IndexPath: r.idx}}, true)
	must(t, err)
	got := len(res.Damaged) == 1 && strings.Contains(res.Damaged[0], pack.String())
	if got != want || (!want && len(res.Damaged) != 0) {
		t.Errorf("rebuild from packs: got damaged %q; want pack %s listed: %v", res.Damaged, pack, want)
	}
}
