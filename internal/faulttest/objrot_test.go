package faulttest

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/narstore"
	nrepo "github.com/nardedup/nardedup/repo"
	"github.com/nardedup/nardedup/repo/layout"
)

// objDamage damages one object: edit returns its new bytes, or nil to
// delete it.
type objDamage struct {
	name  string
	edit  func(t testing.TB, data []byte) []byte
	words []string // what verify must say besides naming the object
}

// flipAt flips a bit of the byte at off (negative: from the end).
func flipAt(off int) func(testing.TB, []byte) []byte {
	return func(t testing.TB, data []byte) []byte {
		i := off
		if i < 0 {
			i += len(data)
		}
		data[i] ^= 0x01
		return data
	}
}

// flipAfter flips a bit of the byte skip bytes after the first match of
// find (a function of the object's bytes).
func flipAfter(find func([]byte) []byte, skip int) func(testing.TB, []byte) []byte {
	return func(t testing.TB, data []byte) []byte {
		i := bytes.Index(data, find(data))
		if i < 0 {
			t.Fatalf("test bug: %q not in the object", find(data))
		}
		data[i+skip] ^= 0x01
		return data
	}
}

func truncateHalf(_ testing.TB, data []byte) []byte { return data[:len(data)/2] }
func deleteObject(testing.TB, []byte) []byte        { return nil }

// firstRecipeID returns the id of the first recipe chunk of a manifest.
func firstRecipeID(t testing.TB) func([]byte) []byte {
	return func(data []byte) []byte {
		m, err := narstore.DecodeManifest(data, 0)
		must(t, err)
		return m.Recipe[0].ID[:]
	}
}

// flipInPaths flips a bit of the second last byte of a manifest's store
// path list, which ends where a manifest without locations would.
func flipInPaths(t testing.TB, data []byte) []byte {
	m, err := narstore.DecodeManifest(data, 0)
	must(t, err)
	m.Locations = nil
	data[len(m.Encode())-2] ^= 0x01
	return data
}

// firstPack returns the id of the first pack a manifest's location table
// names.
func firstPack(t testing.TB) func([]byte) []byte {
	return func(data []byte) []byte {
		m, err := narstore.DecodeManifest(data, 0)
		must(t, err)
		if m.Locations == nil {
			t.Fatal("test bug: manifest without locations")
		}
		return m.Locations.Packs()[0][:]
	}
}

// TestLocationBitRot damages the location table of a shared NAR's
// manifest and checks that verify, reading as a server without an index
// does, lists both store paths.
func TestLocationBitRot(t *testing.T) {
	f := newFixture(t)
	narHash := f.sharedNAR(t)
	key := layout.ManifestOf(narHash).Key()
	damages := []objDamage{
		{"flip the last run's count", flipAt(-1), []string{"corrupt"}},
		{"flip a pack id", flipAfter(firstPack(t), 7), nil},
	}
	want := f.hashesOf(func(h [32]byte, _ []chunkstore.Location) bool { return h == narHash })
	for _, d := range damages {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			r := f.clone(t, true)
			damage(t, r, key, d.edit)
			rp, err := nrepo.Open(context.Background(), r.be, nrepo.Options{ReadOnly: true})
			must(t, err)
			defer rp.Close()
			if rp.Chunks().HasIndex() {
				t.Fatal("a read-only repository of format 2 opened with an index")
			}
			checkDamaged(t, verify(t, rp.NARs()), want, append([]string{key}, d.words...)...)
		})
	}
}

// TestManifestBitRot damages the manifest of a NAR that two store paths
// share, in each way, and checks that verify lists both store paths, and
// only them, naming the manifest and the damage.
func TestManifestBitRot(t *testing.T) {
	f := newFixture(t)
	narHash := f.sharedNAR(t)
	key := layout.ManifestOf(narHash).Key()
	damages := []objDamage{
		{"flip magic", flipAt(0), []string{"bad magic"}},
		{"flip version", flipAt(4), []string{"version"}},
		{"flip NarHash", flipAt(20), []string{"names another NAR"}},
		{"flip NarSize", flipAt(37), []string{"NarSize"}},
		{"flip a recipe chunk id", flipAfter(firstRecipeID(t), 5), []string{"chunk not found"}},
		{"flip a recipe chunk length", flipAfter(firstRecipeID(t), 32), []string{"reference says"}},
		{"flip a store path", flipInPaths, []string{"corrupt"}},
		{"truncate", truncateHalf, []string{"corrupt"}},
		{"delete", deleteObject, []string{"not found"}},
	}
	want := f.hashesOf(func(h [32]byte, _ []chunkstore.Location) bool { return h == narHash })
	if len(want) < 2 {
		t.Fatalf("test bug: NAR shared by %d store paths", len(want))
	}
	for _, d := range damages {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			r := f.clone(t, true)
			damage(t, r, key, d.edit)
			must(t, r.open())
			checkDamaged(t, verify(t, r.st), want, append([]string{key}, d.words...)...)
		})
	}
}

// TestNarInfoBitRot damages one narinfo in each way and checks that verify
// lists that store path alone and says what is wrong.
func TestNarInfoBitRot(t *testing.T) {
	f := newFixture(t)
	h := f.nars[0].hash
	key := layout.NarInfoOf(h).Key()
	line := func(prefix string) func([]byte) []byte {
		return func([]byte) []byte { return []byte(prefix) }
	}
	damages := []objDamage{
		// 'w' and 'v', '5' and '4', '9' and '8' are all nixbase32 digits.
		{"StorePath hash digit", swapAfter("StorePath: /nix/store/", 2), []string{key, "not the path of hash"}},
		{"StorePath directory", flipAfter(line("StorePath: /nix/store/"), 15), []string{key, "not in the Nix store"}},
		{"NarHash digit", swapAfter("NarHash: sha256:", 3), []string{h, "not found"}},
		{"NarHash character", flipAfter(line("NarHash: sha256:"), 20), []string{key, "NarHash"}},
		{"NarSize digit", flipAfter(line("NarSize: "), 10), []string{h, "NarSize"}},
		{"truncate", truncateHalf, []string{key, "newline"}},
	}
	want := map[string]bool{h: true}
	for _, d := range damages {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			r := f.clone(t, true)
			damage(t, r, key, d.edit)
			must(t, r.open())
			checkDamaged(t, verify(t, r.st), want, d.words...)
		})
	}
}

// swapAfter replaces the base-32 digit skip bytes after prefix by another
// base-32 digit, so that the field still parses.
func swapAfter(prefix string, skip int) func(testing.TB, []byte) []byte {
	return func(t testing.TB, data []byte) []byte {
		i := bytes.Index(data, []byte(prefix))
		if i < 0 {
			t.Fatalf("test bug: %q not in the narinfo", prefix)
		}
		i += len(prefix) + skip
		const digits = "0123456789abcdfghijklmnpqrsvwxyz"
		j := strings.IndexByte(digits, data[i])
		if j < 0 {
			t.Fatalf("test bug: %q is not a base-32 digit", data[i])
		}
		data[i] = digits[(j+1)%len(digits)]
		return data
	}
}

// damage applies edit to the object key of r's repository.
func damage(t testing.TB, r *repo, key string, edit func(testing.TB, []byte) []byte) {
	t.Helper()
	data := edit(t, readObject(t, r.be, key))
	if data == nil {
		must(t, r.be.Delete(context.Background(), key))
		return
	}
	writeObject(t, r.be, key, data)
}

// sharedNAR returns the NarHash of a NAR that several store paths of the
// sample share.
func (f *fixture) sharedNAR(t testing.TB) [32]byte {
	t.Helper()
	n := make(map[[32]byte]int)
	for _, u := range f.nars {
		n[u.narHash]++
		if n[u.narHash] > 1 {
			return u.narHash
		}
	}
	t.Fatalf("no two store paths of the sample share a NAR: %d NARs", len(n))
	return [32]byte{}
}
