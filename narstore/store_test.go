package narstore_test

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"path/filepath"
	"slices"
	"testing"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/mem"
	"github.com/nardedup/nardedup/narfmt"
	"github.com/nardedup/nardedup/narstore"
	"github.com/nardedup/nardedup/pathstrip"
	"github.com/nardedup/nardedup/repo"
)

const alphabet = "0123456789abcdfghijklmnpqrsvwxyz"

func storeHash(r *rand.Rand) string {
	b := make([]byte, 32)
	for i := range b {
		b[i] = alphabet[r.Intn(len(alphabet))]
	}
	return string(b)
}

// makeNAR builds a NAR of files full of pseudo-random text with store paths
// of the given hashes sprinkled through it.
func makeNAR(t testing.TB, seed int64, hashes []string) []byte {
	t.Helper()
	r := rand.New(rand.NewSource(seed))
	var buf bytes.Buffer
	w := narfmt.NewWriter(&buf)
	must(t, w.WriteHeader(&narfmt.Header{Path: "/", Type: narfmt.TypeDirectory}))
	for f := 0; f < 4; f++ {
		var content bytes.Buffer
		for content.Len() < 200<<10 {
			line := make([]byte, 40+r.Intn(80))
			for i := range line {
				line[i] = 'a' + byte(r.Intn(26))
			}
			content.Write(line)
			fmt.Fprintf(&content, " /nix/store/%s-dep-%d/lib\n", hashes[r.Intn(len(hashes))], r.Intn(3))
		}
		h := &narfmt.Header{Path: fmt.Sprintf("/f%d", f), Type: narfmt.TypeRegular, Size: int64(content.Len())}
		must(t, w.WriteHeader(h))
		_, err := w.Write(content.Bytes())
		must(t, err)
	}
	must(t, w.Close())
	return buf.Bytes()
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func newStore(t *testing.T, be backend.Backend) *narstore.Store {
	t.Helper()
	ctx := context.Background()
	cfg := repo.DefaultConfig()
	cfg.Chunks.Chunker.MinSize, cfg.Chunks.Chunker.AvgBits, cfg.Chunks.Chunker.MaxSize = 2<<10, 13, 32<<10
	cfg.Chunks.GroupSize, cfg.Chunks.PackSize = 256<<10, 1<<20
	if _, err := repo.Create(ctx, be, cfg); err != nil {
		t.Fatal(err)
	}
	rp, err := repo.Open(ctx, be, repo.Options{Chunks: chunkstore.Options{IndexPath: filepath.Join(t.TempDir(), "i.db")}})
	must(t, err)
	t.Cleanup(func() { rp.Close() })
	s := rp.NARs()
	return s
}

func put(t *testing.T, s *narstore.Store, hash string, nar []byte) narstore.PutResult {
	t.Helper()
	return putAs(t, s, hash, "", nar)
}

// putAs stores a NAR under package name, if not "" (NAR.Name).
func putAs(t *testing.T, s *narstore.Store, hash, name string, nar []byte) narstore.PutResult {
	t.Helper()
	ctx := context.Background()
	n := narstore.NAR{Hash: hash, NarHash: sha256.Sum256(nar), NarSize: uint64(len(nar)), Name: name,
		NarInfo: []byte("StorePath: /nix/store/" + hash + "-" + cmp.Or(name, "x") + "\n")}
	done := make(chan error, 1)
	res, err := s.PutNAR(ctx, n, bytes.NewReader(nar), func(err error) { done <- err })
	must(t, err)
	must(t, narstore.Flush(ctx, s))
	must(t, <-done)
	return res
}

func get(t *testing.T, s *narstore.Store, nar []byte) ([]byte, error) {
	t.Helper()
	rc, _, err := s.Open(context.Background(), sha256.Sum256(nar))
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func TestPutOpenRebuildDedup(t *testing.T) {
	s := newStore(t, mem.New())
	r := rand.New(rand.NewSource(7))
	gen1 := []string{storeHash(r), storeHash(r), storeHash(r)}
	gen2 := []string{storeHash(r), storeHash(r), storeHash(r)}
	nar1, nar2 := makeNAR(t, 1, gen1), makeNAR(t, 1, gen2)
	if bytes.Equal(nar1, nar2) {
		t.Fatal("test NARs are equal")
	}
	res1 := put(t, s, gen1[0], nar1)
	res2 := put(t, s, gen2[0], nar2)
	for _, nar := range [][]byte{nar1, nar2} {
		got, err := get(t, s, nar)
		if err != nil || !bytes.Equal(got, nar) {
			t.Fatalf("Open: err %v, equal %v", err, bytes.Equal(got, nar))
		}
	}
	if res1.Cuts == 0 || res1.Paths == 0 {
		t.Fatalf("no store paths cut: %+v", res1)
	}
	if res2.Residue.NewChunks != 0 || res2.Positions.NewChunks != 0 || res2.Recipe.NewChunks != 0 {
		t.Fatalf("rebuild stored new chunks: %+v", res2)
	}
	if frac := float64(res2.StoredBytes()) / float64(res1.StoredBytes()); frac > 0.02 {
		t.Fatalf("rebuild stored %d bytes, %.1f%% of the first build's %d", res2.StoredBytes(), 100*frac, res1.StoredBytes())
	}
	// Both builds list the same residue chunks, which add up to the residue.
	var lists [2][]chunkstore.Ref
	for i, nar := range [][]byte{nar1, nar2} {
		m, err := s.Manifest(context.Background(), sha256.Sum256(nar))
		must(t, err)
		var total uint64
		must(t, s.ResidueChunks(context.Background(), m, func(r chunkstore.Ref) error {
			lists[i] = append(lists[i], r)
			total += uint64(r.Size)
			return nil
		}))
		if total != m.ResidueSize || len(lists[i]) != res1.Residue.Chunks {
			t.Fatalf("ResidueChunks: %d chunks of %d bytes; want %d chunks of %d", len(lists[i]), total, res1.Residue.Chunks, m.ResidueSize)
		}
	}
	if !slices.Equal(lists[0], lists[1]) {
		t.Fatal("a rebuild lists other residue chunks")
	}
	ok, err := s.HasNarInfo(context.Background(), gen2[0])
	if err != nil || !ok {
		t.Fatalf("narinfo not stored: %v", err)
	}
}

func TestPutRejectsMismatch(t *testing.T) {
	be := mem.New()
	s := newStore(t, be)
	nar := makeNAR(t, 2, []string{storeHash(rand.New(rand.NewSource(1)))})
	ctx := context.Background()
	for name, n := range map[string]narstore.NAR{
		"hash": {Hash: "h", NarHash: sha256.Sum256([]byte("other")), NarSize: uint64(len(nar))},
		"size": {Hash: "h", NarHash: sha256.Sum256(nar), NarSize: uint64(len(nar)) + 1},
	} {
		_, err := s.PutNAR(ctx, n, bytes.NewReader(nar), func(error) { t.Error("done called") })
		if !errors.Is(err, narstore.ErrHashMismatch) {
			t.Fatalf("%s: got %v; want ErrHashMismatch", name, err)
		}
	}
	_, err := s.PutNAR(ctx, narstore.NAR{Hash: "h"}, bytes.NewReader(nar[:len(nar)-8]), func(error) {})
	if err == nil {
		t.Fatal("truncated NAR accepted")
	}
	must(t, narstore.Flush(ctx, s))
	for _, prefix := range []string{"manifests/", "narinfo/"} {
		be.List(ctx, prefix, func(fi backend.Info) error {
			t.Errorf("rejected NAR left %s", fi.Key)
			return nil
		})
	}
}

func TestOpenDetectsDamage(t *testing.T) {
	be := mem.New()
	s := newStore(t, be)
	nar := makeNAR(t, 3, []string{storeHash(rand.New(rand.NewSource(2)))})
	put(t, s, "h", nar)
	ctx := context.Background()
	var packs []string
	be.List(ctx, "packs/", func(fi backend.Info) error { packs = append(packs, fi.Key); return nil })
	data, _ := backend.ReadAll(ctx, be, packs[0])
	data[len(data)/3] ^= 1
	must(t, backend.PutBytes(ctx, be, packs[0], data))
	got, err := get(t, s, nar)
	if err == nil {
		t.Fatal("damaged pack served without error")
	}
	if len(got) >= len(nar) {
		t.Fatalf("got %d bytes of a damaged NAR; want fewer than %d", len(got), len(nar))
	}
}

// TestPutOpenManyPaths stores a NAR with more distinct store paths than
// pathstrip.DefaultMaxPaths: it is accepted, the manifest lists exactly
// the bound, and it reads back byte for byte.
func TestPutOpenManyPaths(t *testing.T) {
	const n, repeats = 70000, 100
	max := pathstrip.DefaultMaxPaths
	r := rand.New(rand.NewSource(70000))
	refs := make([]string, n)
	for i := range refs {
		refs[i] = fmt.Sprintf("/nix/store/%s-pkg-%d", storeHash(r), i)
	}
	var content bytes.Buffer
	for _, p := range refs {
		fmt.Fprintf(&content, "ref %s/bin\n", p)
	}
	for _, p := range refs[:repeats] {
		fmt.Fprintf(&content, "again %s/lib\n", p)
	}
	var nar bytes.Buffer
	w := narfmt.NewWriter(&nar)
	must(t, w.WriteHeader(&narfmt.Header{Path: "/", Type: narfmt.TypeDirectory}))
	must(t, w.WriteHeader(&narfmt.Header{Path: "/refs", Type: narfmt.TypeRegular, Size: int64(content.Len())}))
	_, err := w.Write(content.Bytes())
	must(t, err)
	must(t, w.Close())

	s := newStore(t, mem.New())
	res := put(t, s, storeHash(r), nar.Bytes())
	if res.Paths != max || res.Cuts != int64(max+repeats) {
		t.Fatalf("got %d paths, %d cuts; want %d, %d", res.Paths, res.Cuts, max, max+repeats)
	}
	m, err := s.Manifest(context.Background(), sha256.Sum256(nar.Bytes()))
	must(t, err)
	if len(m.Paths) != max || m.Paths[0] != refs[0] || m.Paths[max-1] != refs[max-1] {
		t.Fatalf("manifest lists %d paths; want %d, the first ones", len(m.Paths), max)
	}
	got, err := get(t, s, nar.Bytes())
	if err != nil || !bytes.Equal(got, nar.Bytes()) {
		t.Fatalf("Open: err %v, equal %v", err, bytes.Equal(got, nar.Bytes()))
	}
}

// TestPutWithoutNarInfo stores a NAR without a narinfo text: its
// manifest is written, no narinfo, until PutNarInfo.
func TestPutWithoutNarInfo(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, mem.New())
	r := rand.New(rand.NewSource(7))
	hash := storeHash(r)
	nar := makeNAR(t, 7, []string{storeHash(r)})
	n := narstore.NAR{Hash: hash, NarHash: sha256.Sum256(nar), NarSize: uint64(len(nar))}
	done := make(chan error, 1)
	_, err := s.PutNAR(ctx, n, bytes.NewReader(nar), func(err error) { done <- err })
	must(t, err)
	must(t, narstore.Flush(ctx, s))
	must(t, <-done)
	if ok, err := s.HasManifest(ctx, n.NarHash); err != nil || !ok {
		t.Fatalf("manifest: %v %v", ok, err)
	}
	if ok, err := s.HasNarInfo(ctx, hash); err != nil || ok {
		t.Fatalf("narinfo written without a text: %v %v", ok, err)
	}
	must(t, s.PutNarInfo(ctx, hash, n.NarHash, []byte("StorePath: /nix/store/"+hash+"-x\n")))
	if ok, err := s.HasNarInfo(ctx, hash); err != nil || !ok {
		t.Fatalf("narinfo after PutNarInfo: %v %v", ok, err)
	}
}
