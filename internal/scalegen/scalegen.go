package scalegen

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"

	"github.com/nardedup/nardedup/chunkstore/lease"
	"github.com/nardedup/nardedup/ingest"
	"github.com/nardedup/nardedup/narfmt"
	"github.com/nardedup/nardedup/narfmt/narinfo"
	"github.com/nardedup/nardedup/narfmt/nixbase32"
	"github.com/nardedup/nardedup/narfmt/storepath"
	"github.com/nardedup/nardedup/narstore"
	"github.com/nardedup/nardedup/repo"
)

// Scale is how much smaller than the default's Config makes chunks,
// frames and packs.
const Scale = 64

// Model parameters. A NAR's size, in average chunks, is log-normal with
// median sizeMedian and shape sizeSigma, at most sizeMax; a NAR has one
// file per filesPer chunks (at most maxFiles) and references up to maxDeps
// earlier packages.
const (
	sizeMedian = 2.0
	sizeSigma  = 1.8
	sizeMax    = 2048
	filesPer   = 4
	maxFiles   = 64
	maxDeps    = 3
	// runMin and runMax bound the text between two store paths in a file.
	runMin = 1 << 10
	runMax = 8 << 10
)

// Config returns the configuration of a generated repository: the
// default one with chunks, frames and packs Scale times smaller.
func Config() repo.Config {
	cfg := repo.DefaultConfig()
	cc := &cfg.Chunks
	cc.Chunker.MinSize /= Scale
	cc.Chunker.AvgBits -= 6 // log2(Scale)
	cc.Chunker.MaxSize /= Scale
	cc.GroupSize /= Scale
	cc.PackSize /= Scale
	return cfg
}

// Options say what to generate.
type Options struct {
	Seed int64
	// Chunks is the number of distinct chunks to aim at; the packages
	// are drawn until their expected chunks reach it.
	Chunks int
	// Generations is how many times every package is built (default 4).
	Generations int
	// Rebuild is the fraction of a package's files whose contents change
	// in each new generation (default 0.2).
	Rebuild float64
	// Jobs is how many NARs are stored at once (default 2).
	Jobs int
}

func (o Options) withDefaults() Options {
	if o.Generations <= 0 {
		o.Generations = 4
	}
	if o.Rebuild <= 0 {
		o.Rebuild = 0.2
	}
	if o.Jobs <= 0 {
		o.Jobs = 2
	}
	return o
}

// Generator draws packages from a seed and stores their NARs.
type Generator struct {
	opts     Options
	storeDir string
	pkgs     []pkg
}

// pkg is one package: its name, its files' sizes and which of them are
// executable, and the earlier packages it refers to.
type pkg struct {
	name  string
	sizes []int
	exec  []bool
	deps  []int
}

// New draws the packages of opts.
func New(opts Options) *Generator {
	opts = opts.withDefaults()
	g := &Generator{opts: opts, storeDir: narstore.DefaultConfig().StoreDir}
	r := rand.New(rand.NewPCG(uint64(opts.Seed), 0x5ca1e))
	avg := 1 << Config().Chunks.Chunker.AvgBits
	// A package's expected distinct chunks: its first build, the files
	// each later generation rebuilds, and about two chunks (recipe and
	// positions) for each NAR whose residue changes.
	perGen := 1 + float64(opts.Generations-1)*opts.Rebuild
	for expect := 0.0; expect < float64(opts.Chunks); {
		chunks := math.Min(sizeMedian*math.Exp(sizeSigma*r.NormFloat64()), sizeMax)
		p := drawPackage(r, len(g.pkgs), chunks*float64(avg))
		g.pkgs = append(g.pkgs, p)
		expect += (chunks + 2) * perGen
	}
	return g
}

// drawPackage draws package i of about size bytes.
func drawPackage(r *rand.Rand, i int, size float64) pkg {
	syll := []string{"ba", "co", "di", "fu", "ga", "li", "mo", "ne", "pi", "ra", "si", "tu", "xe", "zo"}
	name := "lib"
	for range 1 + r.IntN(3) {
		name += syll[r.IntN(len(syll))]
	}
	p := pkg{name: fmt.Sprintf("%s%d-%d.%d", name, i, 1+r.IntN(9), r.IntN(20))}
	n := min(1+int(size)/(filesPer<<Config().Chunks.Chunker.AvgBits), maxFiles)
	for f := range n {
		fsize := int(size / float64(n) * (0.5 + r.Float64()))
		p.sizes = append(p.sizes, max(fsize, 16))
		p.exec = append(p.exec, f == 0 && r.IntN(3) == 0)
	}
	for range r.IntN(maxDeps + 1) {
		if i > 0 {
			p.deps = append(p.deps, r.IntN(i))
		}
	}
	return p
}

// Packages returns the number of packages.
func (g *Generator) Packages() int { return len(g.pkgs) }

// Generations returns the number of generations Generate stores.
func (g *Generator) Generations() int { return g.opts.Generations }

// seed mixes the generator's seed with xs into one seed.
func (g *Generator) seed(xs ...int) [32]byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(g.opts.Seed))
	for _, x := range xs {
		b = binary.LittleEndian.AppendUint64(b, uint64(x))
	}
	return sha256.Sum256(b)
}

// StorePath returns the store path of package i in generation gen.
func (g *Generator) StorePath(i, gen int) string {
	s := g.seed(-1, i, gen)
	return g.storeDir + "/" + nixbase32.EncodeToString(s[:20]) + "-" + g.pkgs[i].name
}

// Hash returns the store path hash (the narinfo's key) of package i in
// generation gen.
func (g *Generator) Hash(i, gen int) string {
	return g.StorePath(i, gen)[len(g.storeDir)+1:][:32]
}

// version returns how often file f of package i changed up to generation
// gen.
func (g *Generator) version(i, f, gen int) int {
	v := 0
	for k := 1; k <= gen; k++ {
		s := g.seed(-2, i, f, k)
		if float64(binary.LittleEndian.Uint64(s[:]))/math.MaxUint64 < g.opts.Rebuild {
			v++
		}
	}
	return v
}

// NAR returns package i's NAR in generation gen and how to store it.
func (g *Generator) NAR(i, gen int) (narstore.NAR, []byte, error) {
	p := g.pkgs[i]
	paths := []string{g.StorePath(i, gen)}
	var refs []string
	for _, d := range p.deps {
		paths = append(paths, g.StorePath(d, gen))
		refs = append(refs, g.StorePath(d, gen)[len(g.storeDir)+1:])
	}
	var buf bytes.Buffer
	w := narfmt.NewWriter(&buf)
	err := w.WriteHeader(&narfmt.Header{Path: "/", Type: narfmt.TypeDirectory})
	for _, dir := range []string{"bin", "lib"} {
		first := true
		for f := range p.sizes {
			if p.exec[f] != (dir == "bin") || err != nil {
				continue
			}
			if first {
				err = w.WriteHeader(&narfmt.Header{Path: "/" + dir, Type: narfmt.TypeDirectory})
				first = false
			}
			data := g.file(i, f, gen, paths)
			if err == nil {
				err = w.WriteHeader(&narfmt.Header{Path: fmt.Sprintf("/%s/f%03d", dir, f),
					Type: narfmt.TypeRegular, Executable: p.exec[f], Size: int64(len(data))})
			}
			if err == nil {
				_, err = w.Write(data)
			}
		}
	}
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		return narstore.NAR{}, nil, fmt.Errorf("scalegen: NAR of %s: %w", paths[0], err)
	}
	h := narfmt.Hash(sha256.Sum256(buf.Bytes()))
	ni := narinfo.NarInfo{StorePath: paths[0], URL: "nar/" + h.String() + ".nar", Compression: "none",
		FileHash: "sha256:" + h.String(), FileSize: uint64(buf.Len()),
		NarHash: "sha256:" + h.String(), NarSize: uint64(buf.Len()),
		References: refs, System: "x86_64-linux"}
	n := narstore.NAR{Hash: g.Hash(i, gen), NarHash: h, NarSize: uint64(buf.Len()), NarInfo: []byte(ni.String())}
	return n, buf.Bytes(), nil
}

// file returns the contents of file f of package i in generation gen:
// pseudo-random text of the file's version, broken by the store paths in
// paths (the package's own first) at places that the version fixes.
func (g *Generator) file(i, f, gen int, paths []string) []byte {
	s := g.seed(-3, i, f, g.version(i, f, gen))
	r := rand.New(rand.NewPCG(binary.LittleEndian.Uint64(s[:]), binary.LittleEndian.Uint64(s[8:])))
	size := g.pkgs[i].sizes[f]
	out := make([]byte, 0, size+256)
	if g.pkgs[i].exec[f] {
		out = append(out, "#!"+paths[r.IntN(len(paths))]+"/bin/sh\n"...)
	}
	for len(out) < size {
		n := min(runMin+r.IntN(runMax-runMin), size-len(out))
		out = appendText(out, r, n)
		out = append(out, paths[r.IntN(len(paths))]+"/lib\n"...)
	}
	return out
}

// appendText appends n bytes of text drawn from 16 letters (half the
// entropy of random bytes, so it compresses about twofold).
func appendText(b []byte, r *rand.Rand, n int) []byte {
	const letters = "acdeilmnorstuy_\n"
	for n > 0 {
		x := r.Uint64()
		for k := 0; k < 16 && n > 0; k++ {
			b = append(b, letters[x&15])
			x >>= 4
			n--
		}
	}
	return b
}

// Stats summarise what Put stored.
type Stats struct {
	NARs     int
	NarBytes int64
	Chunks   int64 // residue chunks of the NARs
	New      int64 // chunks stored anew, of every stream
}

// Generate stores every generation of every package into rp, oldest
// generation first.
func (g *Generator) Generate(ctx context.Context, rp *repo.Repo) (Stats, error) {
	var all Stats
	for gen := range g.opts.Generations {
		s, err := g.Put(ctx, rp, gen, 0, len(g.pkgs))
		all.NARs += s.NARs
		all.NarBytes += s.NarBytes
		all.Chunks += s.Chunks
		all.New += s.New
		if err != nil {
			return all, err
		}
	}
	return all, nil
}

// Put stores generation gen of packages from to to-1 into rp, as an
// ingest would: within a session, Jobs NARs at a time, and returns once
// every narinfo is written. If rp's chunk store has no index
// (chunkstore.Options.Candidates), it dedups by package name as ingest
// does: each NAR gets a names object and is offered the chunks of its
// package's newest earlier NARs. A generation past Generations is a new build.
func (g *Generator) Put(ctx context.Context, rp *repo.Repo, gen, from, to int) (Stats, error) {
	st := rp.NARs()
	ss, err := rp.Chunks().StartSession(ctx, lease.SessionOptions{Kind: "ingest"})
	if err != nil {
		return Stats{}, fmt.Errorf("scalegen: %w", err)
	}
	var (
		mu    sync.Mutex
		stats Stats
		errs  []error
		done  sync.WaitGroup
		work  sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	next := make(chan int)
	for range g.opts.Jobs {
		work.Go(func() {
			for i := range next {
				n, data, err := g.NAR(i, gen)
				if err != nil {
					fail(err)
					continue
				}
				if !rp.Chunks().HasIndex() {
					// Names dedup, as ingest does it.
					n.Name = storepath.PackageName(g.pkgs[i].name)
					if _, err := st.OfferNamed(ctx, n.Name, ingest.DefaultNameCandidates); err != nil {
						fail(err)
						continue
					}
				}
				done.Add(1)
				res, err := st.PutNAR(ctx, n, bytes.NewReader(data), func(err error) {
					if err != nil {
						fail(err)
					}
					done.Done()
				})
				if err != nil {
					done.Done()
					fail(err)
					continue
				}
				mu.Lock()
				stats.NARs++
				stats.NarBytes += res.NarSize
				stats.Chunks += int64(res.Residue.Chunks)
				stats.New += int64(res.Residue.NewChunks + res.Recipe.NewChunks + res.Positions.NewChunks)
				mu.Unlock()
			}
		})
	}
	for i := from; i < to && ctx.Err() == nil; i++ {
		next <- i
	}
	close(next)
	work.Wait()
	if err := rp.Chunks().Flush(context.WithoutCancel(ctx)); err != nil {
		fail(err)
	}
	done.Wait()
	errs = append(errs, ss.Close(context.WithoutCancel(ctx)), ctx.Err())
	return stats, errors.Join(errs...)
}
