package narstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"math/rand"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/mem"
	"github.com/nardedup/nardedup/narstore"
	"github.com/nardedup/nardedup/repo"
	"github.com/nardedup/nardedup/repo/layout"
)

// putOrder records the keys put, in order.
type putOrder struct {
	backend.Backend
	mu   sync.Mutex
	keys []string
}

func (p *putOrder) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	err := p.Backend.Put(ctx, key, r, size)
	p.mu.Lock()
	p.keys = append(p.keys, key)
	p.mu.Unlock()
	return err
}

// putNamed stores a NAR under a package name through a store without an
// index, offering it the chunks of the name's newest NARs first.
func putNamed(t *testing.T, s *narstore.Store, name, hash string, nar []byte, offer bool) narstore.PutResult {
	t.Helper()
	ctx := context.Background()
	if offer {
		_, err := s.OfferNamed(ctx, name, 4)
		must(t, err)
	}
	return putAs(t, s, hash, name, nar)
}

// A rebuild of a package stored by another process deduplicates against
// the chunks of the package's earlier NAR, found by name, without a local
// index; the names object is written after the manifest and before the
// narinfo.
func TestNamesDedupAcrossProcesses(t *testing.T) {
	ctx := context.Background()
	be := &putOrder{Backend: mem.New()}
	cfg := repo.DefaultConfig()
	cfg.Chunks.Chunker.MinSize, cfg.Chunks.Chunker.AvgBits, cfg.Chunks.Chunker.MaxSize = 2<<10, 13, 32<<10
	cfg.Chunks.GroupSize, cfg.Chunks.PackSize = 256<<10, 1<<20
	_, err := repo.Create(ctx, be, cfg)
	must(t, err)
	open := func() *repo.Repo {
		rp, err := repo.Open(ctx, be, repo.Options{Chunks: chunkstore.Options{Candidates: 1 << 16}})
		must(t, err)
		return rp
	}
	r := rand.New(rand.NewSource(11))
	gens := make([][]byte, 3)
	hashes := make([]string, 3)
	for i := range gens {
		gens[i] = makeNAR(t, 5, []string{storeHash(r), storeHash(r)})
		hashes[i] = storeHash(r)
	}

	rp := open()
	first := putNamed(t, rp.NARs(), "foo", hashes[0], gens[0], true)
	must(t, rp.Close())
	if first.Residue.NewChunks == 0 {
		t.Fatal("first generation stored nothing")
	}
	names := layout.NameOf("foo", sha256.Sum256(gens[0])).Key()
	manifest := layout.ManifestOf(sha256.Sum256(gens[0])).Key()
	narinfo := layout.NarInfoOf(hashes[0]).Key()
	if i, j, k := slices.Index(be.keys, manifest), slices.Index(be.keys, names), slices.Index(be.keys, narinfo); i < 0 || !(i < j && j < k) {
		t.Errorf("put order: manifest %d, names object %d, narinfo %d; want increasing", i, j, k)
	}

	// Without the offer, a new process stores the rebuild again.
	rp = open()
	blind := putNamed(t, rp.NARs(), "bar", hashes[1], gens[1], false)
	must(t, rp.Close())
	if blind.Residue.NewChunks != first.Residue.NewChunks {
		t.Fatalf("rebuild without candidates stored %d residue chunks, want %d", blind.Residue.NewChunks, first.Residue.NewChunks)
	}

	rp = open()
	defer rp.Close()
	again := putNamed(t, rp.NARs(), "foo", hashes[2], gens[2], true)
	if again.Residue.NewChunks != 0 || again.Recipe.NewChunks != 0 {
		t.Errorf("rebuild found by name stored %d residue and %d recipe chunks, want 0",
			again.Residue.NewChunks, again.Recipe.NewChunks)
	}
	rd, err := repo.Open(ctx, be, repo.Options{ReadOnly: true})
	must(t, err)
	defer rd.Close()
	for _, nar := range gens {
		got, err := get(t, rd.NARs(), nar)
		if err != nil || !bytes.Equal(got, nar) {
			t.Fatalf("read back: %v", err)
		}
	}
	var listed int
	must(t, be.List(ctx, "names/", func(fi backend.Info) error {
		if strings.HasPrefix(fi.Key, layout.NamesPrefix("foo")) {
			listed++
		}
		return nil
	}))
	if listed != 2 {
		t.Errorf("%d names objects of foo, want 2", listed)
	}
}
