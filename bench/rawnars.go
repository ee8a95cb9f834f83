package bench

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/nardedup/nardedup/bench/internal/units"
	"github.com/nardedup/nardedup/internal/decompress"
	"github.com/nardedup/nardedup/narfmt/nixhash"
	"github.com/nardedup/nardedup/narstore"
	"github.com/nardedup/nardedup/source"
)

// rawCorpus is the corpus with its NARs decompressed, for the peers and
// the speed measurements: one file per distinct NAR, a plain binary cache
// of them (Compression: none) and a directory tree per generation.
type rawCorpus struct {
	dir    string // root of it all, under the work directory
	cache  string // dir/cache: nix-cache-info, narinfos, nar/<digest>.nar
	gens   []rawGen
	files  []*rawFile          // one per distinct NAR, in first-seen order
	byHash map[string]*rawFile // by NarHash
}

// rawGen is one generation of the raw corpus.
type rawGen struct {
	Name    string
	Dir     string  // dir/gens/<name>: hard links to the generation's NARs
	Entries []entry // its narinfos as the source has them
	Hashes  []string
}

// rawFile is one distinct NAR.
type rawFile struct {
	Digest      string // nixbase32 digest of NarHash: the file name
	NAR         string // path of the decompressed NAR
	Source      string // path of a copy of the source's compressed file
	Compression string
	NarSize     int64
}

// extractRaw decompresses every distinct NAR of the generations once into
// a scratch directory and builds the plain cache and the generation trees.
func (r *runner) extractRaw(ctx context.Context) (*rawCorpus, error) {
	dir, err := r.scratch("raw")
	if err != nil {
		return nil, err
	}
	rc := &rawCorpus{dir: dir, cache: filepath.Join(dir, "cache"), byHash: make(map[string]*rawFile)}
	for _, d := range []string{filepath.Join(rc.cache, "nar"), filepath.Join(dir, "src")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("bench: raw corpus: %w", err)
		}
	}
	storeDir := narstore.DefaultConfig().StoreDir
	if err := os.WriteFile(filepath.Join(rc.cache, "nix-cache-info"), []byte("StoreDir: "+storeDir+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("bench: raw corpus: %w", err)
	}
	for _, g := range r.opts.Generations {
		es, err := scan(ctx, g.Source, storeDir)
		if err != nil {
			return nil, err
		}
		todo, err := rc.newFiles(es)
		if err != nil {
			return nil, err
		}
		err = forEach(r.opts.Jobs, todo, func(i int) error { return rc.decompress(ctx, g.Source, es[i]) })
		if err != nil {
			return nil, err
		}
		rg := rawGen{Name: g.Name, Dir: filepath.Join(dir, "gens", g.Name), Entries: es}
		if err := rc.link(&rg); err != nil {
			return nil, err
		}
		rc.gens = append(rc.gens, rg)
	}
	r.logf("raw corpus: %d distinct NARs, %s", len(rc.files), units.MiB(rc.narBytes()))
	return rc, nil
}

// newFiles registers the NARs of es not seen before and returns their
// indexes in es.
func (rc *rawCorpus) newFiles(es []entry) ([]int, error) {
	var todo []int
	for i, e := range es {
		if rc.byHash[e.NarHash] != nil {
			continue
		}
		h, err := nixhash.Parse(e.NarHash)
		if err != nil {
			return nil, fmt.Errorf("bench: narinfo %s: NarHash: %w", e.Hash, err)
		}
		comp := e.Compression
		if comp == "" {
			comp = "bzip2" // what Nix assumes
		}
		f := &rawFile{Digest: h.Base32(), Compression: comp, NarSize: e.NarSize}
		f.NAR = filepath.Join(rc.cache, "nar", f.Digest+".nar")
		f.Source = filepath.Join(rc.dir, "src", f.Digest+".nar."+comp)
		rc.byHash[e.NarHash] = f
		rc.files = append(rc.files, f)
		todo = append(todo, i)
	}
	return todo, nil
}

// decompress writes the NAR of e and a copy of its source file, and checks
// the NAR against NarSize and NarHash.
func (rc *rawCorpus) decompress(ctx context.Context, src source.Source, e entry) error {
	f := rc.byHash[e.NarHash]
	in, err := src.Open(ctx, e.URL)
	if err != nil {
		return fmt.Errorf("bench: raw NAR of %s: %w", e.Hash, err)
	}
	defer in.Close()
	cp, err := os.Create(f.Source)
	if err != nil {
		return fmt.Errorf("bench: raw NAR of %s: %w", e.Hash, err)
	}
	defer cp.Close()
	tee := io.TeeReader(in, cp)
	dec, err := decompress.NewReader(ctx, tee, f.Compression)
	if err != nil {
		return fmt.Errorf("bench: raw NAR of %s: %w", e.Hash, err)
	}
	defer dec.Close()
	out, err := os.Create(f.NAR)
	if err != nil {
		return fmt.Errorf("bench: raw NAR of %s: %w", e.Hash, err)
	}
	defer out.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), dec)
	if err == nil {
		_, err = io.Copy(io.Discard, tee) // the rest of the source file
	}
	if err != nil {
		return fmt.Errorf("bench: raw NAR of %s: %w", e.Hash, err)
	}
	if got := nixhash.FromHash(nixhash.SHA256, h).Base32(); n != e.NarSize || got != f.Digest {
		return fmt.Errorf("bench: raw NAR of %s: %d bytes, sha256 %s; narinfo says %d, %s", e.Hash, n, got, e.NarSize, f.Digest)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("bench: raw NAR of %s: %w", e.Hash, err)
	}
	if err := cp.Close(); err != nil {
		return fmt.Errorf("bench: raw NAR of %s: %w", e.Hash, err)
	}
	return nil
}

// link writes the plain narinfos of g and hard-links its NARs into g.Dir.
func (rc *rawCorpus) link(g *rawGen) error {
	if err := os.MkdirAll(g.Dir, 0o755); err != nil {
		return fmt.Errorf("bench: raw corpus: %w", err)
	}
	for _, e := range g.Entries {
		f := rc.byHash[e.NarHash]
		text, err := plainNarInfo(e.Text, "nar/"+f.Digest+".nar", e.NarHash, e.NarSize)
		if err != nil {
			return fmt.Errorf("bench: narinfo %s: %w", e.Hash, err)
		}
		if err := os.WriteFile(filepath.Join(rc.cache, e.Hash+".narinfo"), text, 0o644); err != nil {
			return fmt.Errorf("bench: raw corpus: %w", err)
		}
		err = os.Link(f.NAR, filepath.Join(g.Dir, f.Digest+".nar"))
		if err != nil && !os.IsExist(err) { // two store paths, one NAR
			return fmt.Errorf("bench: raw corpus: %w", err)
		}
		g.Hashes = append(g.Hashes, e.Hash)
	}
	return nil
}

// source returns the plain cache restricted to generation g.
func (rc *rawCorpus) source(g rawGen) (source.Source, error) {
	src, err := source.WithHashes(source.NewDir(rc.cache), g.Hashes)
	if err != nil {
		return nil, fmt.Errorf("bench: plain cache of %s: %w", g.Name, err)
	}
	return src, nil
}

func (rc *rawCorpus) narBytes() int64 {
	var n int64
	for _, f := range rc.files {
		n += f.NarSize
	}
	return n
}

func (rc *rawCorpus) remove() error { return os.RemoveAll(rc.dir) }
