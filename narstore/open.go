package narstore

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/loctable"
	"github.com/nardedup/nardedup/internal/bufpipe"
	"github.com/nardedup/nardedup/narfmt"
	"github.com/nardedup/nardedup/pathstrip"
)

// Open returns the NAR with SHA-256 narHash as a stream and its manifest.
// The stream is checked as it goes: if the NAR cannot be rebuilt exactly
// (a damaged or missing chunk, a hash mismatch), Read returns an error
// before it returns the NAR's last byte.
func (s *Store) Open(ctx context.Context, narHash narfmt.Hash) (io.ReadCloser, *Manifest, error) {
	m, err := s.Manifest(ctx, narHash)
	if err != nil {
		return nil, nil, err
	}
	return s.OpenManifest(ctx, m), m, nil
}

// OpenManifest streams the NAR that m describes, checked like Open's. The
// NAR is rebuilt and hashed on a goroutine of its own, up to a MiB ahead
// of the reader, so that both can keep a core busy: the rebuilding of a
// NAR whose frames are cached is as fast as hashing it, and a server's
// reader then spends as long again sending it.
func (s *Store) OpenManifest(ctx context.Context, m *Manifest) io.ReadCloser {
	return rebuild(ctx, m, s.opt, s.usesTable(m), s.cs.NewLocatedReader)
}

// ChunkOpener returns the concatenation of the chunks that next yields,
// each with its location, until io.EOF. The chunk store's
// NewLocatedReader is one; a client of a remote repository has its own.
type ChunkOpener func(ctx context.Context, next func() (chunkstore.Ref, chunkstore.Location, error)) io.ReadCloser

// Rebuild streams the NAR that m describes from chunks read through open
// at the locations of m's table, putting back the store paths as opt
// says; it is checked and read ahead like OpenManifest's stream. It fails
// for a manifest without locations.
func Rebuild(ctx context.Context, m *Manifest, opt pathstrip.Options, open ChunkOpener) (io.ReadCloser, error) {
	if m.Locations == nil {
		return nil, fmt.Errorf("NAR sha256:%s: %w", m.NarHash.String(), ErrNoLocations)
	}
	return rebuild(ctx, m, opt, true, open), nil
}

func rebuild(ctx context.Context, m *Manifest, opt pathstrip.Options, useTable bool, open ChunkOpener) io.ReadCloser {
	ctx, cancel := context.WithCancel(ctx)
	recipe := open(ctx, locate(m, SectionRecipe, useTable, listRefs(m.Recipe)))
	positions := open(ctx, locate(m, SectionPositions, useTable, listRefs(m.Positions)))
	rr := &recipeRefs{r: bufio.NewReaderSize(recipe, 64<<10)}
	residue := open(ctx, locate(m, SectionResidue, useTable, rr.next))
	restored := pathstrip.NewRestorer(residue, positions, m.Paths, opt)
	return newReadAhead(&verifyReader{
		r: restored, want: m.NarHash, size: m.NarSize, h: sha256.New(),
		closers: []io.Closer{residue, positions, recipe}, cancel: cancel,
	})
}

// Verify returns r, which should hold the NAR with SHA-256 narHash and
// size bytes, checked as Open's stream is: if r holds anything else, Read
// returns an error wrapping ErrCorrupt before it returns the last byte.
func Verify(r io.Reader, narHash narfmt.Hash, size uint64) io.Reader {
	return &verifyReader{r: r, want: narHash, size: size, h: sha256.New()}
}

// readAhead reads a verifyReader on its own goroutine into a pipe.
type readAhead struct {
	p    *bufpipe.Pipe
	v    *verifyReader
	done chan struct{}
}

func newReadAhead(v *verifyReader) *readAhead {
	ra := &readAhead{p: bufpipe.New(), v: v, done: make(chan struct{})}
	go func() {
		defer close(ra.done)
		_, err := ra.p.ReadFrom(v)
		ra.p.CloseWrite(err) // nil at the end: the reader gets io.EOF
	}()
	return ra
}

func (ra *readAhead) Read(p []byte) (int, error) { return ra.p.Read(p) }

// WriteTo writes the rest of the NAR to w from the pipe's blocks, without
// copying it into a buffer of the caller's first.
func (ra *readAhead) WriteTo(w io.Writer) (int64, error) { return ra.p.WriteTo(w) }

// Close stops the rebuilding and waits for its goroutine.
func (ra *readAhead) Close() error {
	ra.v.cancel()
	ra.p.CloseRead(errors.New("narstore: NAR stream closed"))
	<-ra.done
	return ra.v.Close()
}

// listRefs yields refs in order, then io.EOF.
func listRefs(refs []chunkstore.Ref) func() (chunkstore.Ref, error) {
	i := 0
	return func() (chunkstore.Ref, error) {
		if i == len(refs) {
			return chunkstore.Ref{}, io.EOF
		}
		i++
		return refs[i-1], nil
	}
}

// residueRefs returns the residue's refs as the recipe of m lists them,
// read as they are needed, and a function that stops reading.
func (s *Store) residueRefs(ctx context.Context, m *Manifest) (next func() (chunkstore.Ref, error), done func()) {
	recipe := s.cs.NewLocatedReader(ctx, s.locate(m, SectionRecipe, listRefs(m.Recipe)))
	rr := &recipeRefs{r: bufio.NewReaderSize(recipe, 64<<10)}
	return rr.next, func() { recipe.Close() }
}

// usesTable reports whether the store reads m's chunks at the locations
// of its table: it has no local index, and m has a table.
func (s *Store) usesTable(m *Manifest) bool { return m.Locations != nil && !s.cs.HasIndex() }

func (s *Store) locate(m *Manifest, section int, next func() (chunkstore.Ref, error)) func() (chunkstore.Ref, chunkstore.Location, error) {
	return locate(m, section, s.usesTable(m), next)
}

// locate pairs the refs that next yields with their locations in section
// of m's location table if useTable; else with the zero Location: to be
// looked up. A store with an index looks every chunk up there: the index
// follows garbage collection, and the table is then neither decoded nor
// trusted.
func locate(m *Manifest, section int, useTable bool, next func() (chunkstore.Ref, error)) func() (chunkstore.Ref, chunkstore.Location, error) {
	var c *loctable.Cursor
	if useTable {
		c = m.Locations.Cursor(section)
	}
	return func() (chunkstore.Ref, chunkstore.Location, error) {
		ref, err := next()
		if c == nil {
			return ref, chunkstore.Location{}, err
		}
		if errors.Is(err, io.EOF) {
			if derr := c.Done(); derr != nil {
				return ref, chunkstore.Location{}, fmt.Errorf("%w: NAR sha256:%s: %v", ErrCorrupt, m.NarHash.String(), derr)
			}
		}
		if err != nil {
			return ref, chunkstore.Location{}, err
		}
		loc, err := c.Next(ref.Size)
		if err != nil {
			err = fmt.Errorf("%w: NAR sha256:%s: %v", ErrCorrupt, m.NarHash.String(), err)
		}
		return ref, loc, err
	}
}

// recipeRefs decodes a recipe stream.
type recipeRefs struct {
	r *bufio.Reader
}

func (rr *recipeRefs) next() (chunkstore.Ref, error) {
	var ref chunkstore.Ref
	if _, err := io.ReadFull(rr.r, ref.ID[:1]); errors.Is(err, io.EOF) {
		return ref, io.EOF
	} else if err != nil {
		return ref, fmt.Errorf("narstore: recipe: %w", err)
	}
	if _, err := io.ReadFull(rr.r, ref.ID[1:]); err != nil {
		return ref, fmt.Errorf("%w: recipe: truncated chunk id: %v", ErrCorrupt, err)
	}
	size, err := binary.ReadUvarint(rr.r)
	if err != nil || size == 0 || size > chunkstore.MaxChunkSize {
		return ref, fmt.Errorf("%w: recipe: bad chunk length %d: %v", ErrCorrupt, size, err)
	}
	ref.Size = uint32(size)
	return ref, nil
}

// verifyReader checks the stream's length and SHA-256, and holds back the
// last byte until both are right.
type verifyReader struct {
	r       io.Reader
	h       hash.Hash
	want    narfmt.Hash
	size    uint64
	n       uint64 // bytes returned
	err     error
	last    [1]byte
	closers []io.Closer
	cancel  context.CancelFunc
}

func (v *verifyReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if v.n+1 >= v.size {
		return v.finish(p)
	}
	if left := v.size - 1 - v.n; uint64(len(p)) > left {
		p = p[:left]
	}
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	v.n += uint64(n)
	if errors.Is(err, io.EOF) {
		err = fmt.Errorf("%w: NAR sha256:%s ends after %d of %d bytes", ErrCorrupt,
			v.want.String(), v.n, v.size)
	}
	if err != nil {
		v.err = err
	}
	return n, err
}

// finish reads the last byte, checks that nothing follows and that the
// hash matches, and only then returns the byte.
func (v *verifyReader) finish(p []byte) (int, error) {
	if v.n == v.size {
		v.err = io.EOF
		return 0, io.EOF
	}
	if _, err := io.ReadFull(v.r, v.last[:]); err != nil {
		v.err = fmt.Errorf("%w: NAR sha256:%s: reading its last byte: %v", ErrCorrupt, v.want.String(), err)
		return 0, v.err
	}
	var extra [1]byte
	if n, err := v.r.Read(extra[:]); n != 0 || !errors.Is(err, io.EOF) {
		if err == nil || errors.Is(err, io.EOF) {
			err = errors.New("longer than its NarSize")
		}
		v.err = fmt.Errorf("%w: NAR sha256:%s: %v", ErrCorrupt, v.want.String(), err)
		return 0, v.err
	}
	v.h.Write(v.last[:])
	var got narfmt.Hash
	v.h.Sum(got[:0])
	if got != v.want {
		v.err = fmt.Errorf("%w: NAR sha256:%s rebuilt with hash sha256:%s", ErrCorrupt,
			v.want.String(), got.String())
		return 0, v.err
	}
	v.n++
	p[0] = v.last[0]
	return 1, nil
}

// Close stops the chunk readers.
func (v *verifyReader) Close() error {
	v.cancel()
	for _, c := range v.closers {
		c.Close()
	}
	if v.err == nil {
		v.err = errors.New("narstore: read after close")
	}
	return nil
}

// ResidueChunks calls fn with each chunk of the residue of the NAR that m
// describes, in order, as its recipe lists them. It reads the recipe, not
// the residue.
func (s *Store) ResidueChunks(ctx context.Context, m *Manifest, fn func(chunkstore.Ref) error) error {
	next, done := s.residueRefs(ctx, m)
	defer done()
	for {
		ref, err := next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(ref); err != nil {
			return err
		}
	}
}
