package narstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/loctable"
	"github.com/nardedup/nardedup/narfmt"
	"github.com/nardedup/nardedup/pathstrip"
	"github.com/nardedup/nardedup/repo/layout"
)

// ErrHashMismatch is wrapped when a NAR does not match its NarHash or
// NarSize.
var ErrHashMismatch = errors.New("narstore: NAR does not match its narinfo")

// NAR describes a NAR to store: what its narinfo promises.
type NAR struct {
	Hash    string      // store path hash part: the narinfo's key
	NarHash narfmt.Hash // SHA-256 of the NAR
	NarSize uint64
	NarInfo []byte // the upstream narinfo text; nil: the caller writes it (PutNarInfo)
	// Name, if set, is the package name of the store path
	// (storepath.PackageName): a names object (layout.NameOf) then records
	// the NAR under it, after its manifest and before its narinfo, so that later
	// NARs of the package find it (OfferNamed).
	Name string
	// Check, if set, runs after the NAR has been read and checked, before
	// anything is committed; an error from it rejects the NAR. Ingest uses
	// it to check the compressed file's FileHash and FileSize.
	Check func() error
}

// PutResult summarises one stored NAR.
type PutResult struct {
	NarSize   int64
	Cuts      int64 // store path occurrences cut out
	Paths     int   // distinct store path strings
	Residue   chunkstore.WriteResult
	Positions chunkstore.WriteResult
	Recipe    chunkstore.WriteResult
	Manifest  int // bytes
}

// StoredBytes returns the bytes this NAR added to packs and manifests.
func (r PutResult) StoredBytes() int64 {
	return r.Residue.StoredBytes + r.Positions.StoredBytes + r.Recipe.StoredBytes + int64(r.Manifest)
}

// PutNAR reads a NAR from r, checks it against n and stores it. If PutNAR
// returns nil, the NAR's chunks are on their way into packs and done is
// called exactly once, later: with nil after the manifest and then the
// narinfo are written, or with the error that prevented it. If PutNAR
// returns an error, nothing refers to what it stored and done is not called.
func (s *Store) PutNAR(ctx context.Context, n NAR, r io.Reader, done func(error)) (PutResult, error) {
	release := s.cs.Lease().Hold()
	if key := layout.ManifestOf(n.NarHash).Key(); s.cs.Lease().IsCondemned(key) {
		release()
		return PutResult{}, fmt.Errorf("NAR %s: %w", n.NarHash.String(), ErrCondemned)
	}
	res, err := s.putNAR(ctx, n, r, func(err error) {
		defer release()
		done(err)
	})
	if err != nil {
		release()
	}
	return res, err
}

func (s *Store) putNAR(ctx context.Context, n NAR, r io.Reader, done func(error)) (PutResult, error) {
	check := func(sum narfmt.Hash, size uint64) error {
		if size != n.NarSize || sum != n.NarHash {
			return fmt.Errorf("%w: got NarHash sha256:%s NarSize %d, narinfo says sha256:%s NarSize %d",
				ErrHashMismatch, sum.String(), size, n.NarHash.String(), n.NarSize)
		}
		if n.Check != nil {
			return n.Check()
		}
		return nil
	}
	after := func(ctx context.Context) error {
		if n.Name != "" {
			if err := s.putName(ctx, n.Name, n.NarHash); err != nil {
				return err
			}
		}
		if n.NarInfo == nil {
			return nil
		}
		return s.putNarInfo(ctx, n.Hash, n.NarInfo)
	}
	res, _, err := s.store(ctx, "NAR "+n.NarHash.String(), r, check, after, done)
	return res, err
}

// store reads a NAR from r and stores its chunks. Once the NAR is read,
// check is called with its SHA-256 and size; an error from it rejects the
// NAR. Then, once the chunks are durable, the manifest is written, then
// after is called, then done. Errors reading the NAR are prefixed with
// what.
func (s *Store) store(ctx context.Context, what string, r io.Reader, check func(narfmt.Hash, uint64) error,
	after func(context.Context) error, done func(error)) (PutResult, narfmt.Hash, error) {
	var res PutResult
	p := s.newPut(ctx)
	size, sum, err := p.consume(r)
	if err == nil {
		err = p.close(&res)
	} else {
		p.abort(err)
	}
	res.NarSize = size
	if err != nil {
		return res, sum, fmt.Errorf("%s: %w", what, err)
	}
	if err := check(sum, uint64(size)); err != nil {
		return res, sum, err
	}
	m := &Manifest{NarHash: sum, NarSize: uint64(size), ResidueSize: uint64(res.Residue.Size),
		PositionsSize: uint64(res.Positions.Size), Recipe: p.recipeRefs, Positions: p.positionRefs, Paths: p.strip.Paths()}
	res.Manifest = len(m.Encode()) // without its location table, not known yet
	res.Cuts, res.Paths = p.strip.Cuts(), len(m.Paths)
	err = s.cs.Commit(ctx, func(err error) {
		if err == nil {
			err = s.writeManifest(context.WithoutCancel(ctx), m, &res)
		}
		if err == nil {
			err = after(context.WithoutCancel(ctx))
		}
		done(err)
	}, res.Residue, res.Positions, res.Recipe)
	return res, sum, err
}

// locateChunks sets m's location table: where each chunk of its streams
// lies, now that all are durable. A store with an index looks them up in
// it; one without (chunkstore.Options.Candidates) asks the streams'
// results, res.
func (s *Store) locateChunks(ctx context.Context, m *Manifest, res *PutResult) error {
	if res == nil {
		res = &PutResult{} // nothing written: every chunk must be in the index
	}
	b := loctable.NewBuilder(numSections)
	add := func(section int) func(chunkstore.Ref, chunkstore.Location) error {
		return func(_ chunkstore.Ref, loc chunkstore.Location) error {
			b.Add(section, loc)
			return nil
		}
	}
	locate := func(r *chunkstore.WriteResult) func(context.Context, func() (chunkstore.Ref, error), func(chunkstore.Ref, chunkstore.Location) error) error {
		if s.cs.HasIndex() {
			return s.cs.LocateAll
		}
		return func(_ context.Context, next func() (chunkstore.Ref, error), fn func(chunkstore.Ref, chunkstore.Location) error) error {
			return r.LocateAll(next, fn)
		}
	}
	if err := locate(&res.Recipe)(ctx, listRefs(m.Recipe), add(SectionRecipe)); err != nil {
		return fmt.Errorf("locate recipe chunks: %w", err)
	}
	if err := locate(&res.Positions)(ctx, listRefs(m.Positions), add(SectionPositions)); err != nil {
		return fmt.Errorf("locate positions chunks: %w", err)
	}
	if !s.cs.HasIndex() {
		// The residue's refs are read from the recipe by location.
		if err := m.SetLocations(b.Encode()); err != nil {
			return err
		}
	}
	next, done := s.residueRefs(ctx, m)
	defer done()
	if err := locate(&res.Residue)(ctx, next, add(SectionResidue)); err != nil {
		return fmt.Errorf("locate residue chunks: %w", err)
	}
	return m.SetLocations(b.Encode())
}

// writeManifest locates m's chunks (see locateChunks for res), then
// writes m.
func (s *Store) writeManifest(ctx context.Context, m *Manifest, res *PutResult) error {
	if err := s.locateChunks(ctx, m, res); err != nil {
		return fmt.Errorf("narstore: NAR sha256:%s: %w", m.NarHash.String(), err)
	}
	enc := m.Encode()
	key := layout.ManifestOf(m.NarHash).Key()
	if err := s.cs.Lease().CheckLease(); err != nil {
		return fmt.Errorf("narstore: not writing %s: %w", key, err)
	}
	if err := s.be.Put(ctx, key, bytes.NewReader(enc), int64(len(enc))); err != nil {
		return fmt.Errorf("narstore: write %s: %w", key, err)
	}
	return nil
}

// put holds the streams of one NAR being stored.
type put struct {
	residue, positions, recipe *chunkstore.Writer
	strip                      *pathstrip.Stripper
	recipeRefs                 []chunkstore.Ref // chunks of the recipe stream
	positionRefs               []chunkstore.Ref // chunks of the positions stream
}

func (s *Store) newPut(ctx context.Context) *put {
	p := &put{}
	p.recipe = s.cs.NewWriter(ctx, func(r chunkstore.Ref) error {
		p.recipeRefs = append(p.recipeRefs, r)
		return nil
	})
	p.positions = s.cs.NewWriter(ctx, func(r chunkstore.Ref) error {
		p.positionRefs = append(p.positionRefs, r)
		return nil
	})
	var rec []byte
	p.residue = s.cs.NewWriter(ctx, func(r chunkstore.Ref) error {
		rec = appendRef(rec[:0], r)
		_, err := p.recipe.Write(rec)
		return err
	})
	p.strip = pathstrip.NewStripper(p.residue, p.positions, s.opt)
	return p
}

// consume reads the whole NAR through the NAR parser, feeding the stripper
// and a hash on the way, and returns its size and SHA-256.
func (p *put) consume(r io.Reader) (int64, narfmt.Hash, error) {
	h := sha256.New()
	cw := &countWriter{}
	tee := io.TeeReader(r, io.MultiWriter(h, cw, p.strip))
	nr := narfmt.NewReader(tee)
	var sum narfmt.Hash
	for {
		_, err := nr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return cw.n, sum, err
		}
		if _, err := io.Copy(io.Discard, nr); err != nil {
			return cw.n, sum, err
		}
	}
	h.Sum(sum[:0])
	return cw.n, sum, nil
}

// close flushes the stripper and closes the streams, residue first since it
// feeds the recipe.
func (p *put) close(res *PutResult) error {
	err := p.strip.Close()
	if err != nil {
		p.abort(err)
		return err
	}
	var errs [3]error
	res.Residue, errs[0] = p.residue.Close()
	res.Positions, errs[1] = p.positions.Close()
	res.Recipe, errs[2] = p.recipe.Close()
	return errors.Join(errs[:]...)
}

func (p *put) abort(err error) {
	p.residue.Abort(err)
	p.positions.Abort(err)
	p.recipe.Abort(err)
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}
