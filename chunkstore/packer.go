package chunkstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/index"
	"github.com/nardedup/nardedup/chunkstore/lease"
	"github.com/nardedup/nardedup/chunkstore/pack"
)

// ticket stands for one frame of new chunks on its way into a pack. done is
// closed once the frame is in a pack (seq set) or has failed (err set).
type ticket struct {
	done chan struct{}
	seq  uint64
	err  error
}

func newTicket() *ticket { return &ticket{done: make(chan struct{})} }

func (t *ticket) finish(seq uint64, err error) {
	t.seq, t.err = seq, err
	close(t.done)
}

// packBuilder collects frames for one pack.
type packBuilder struct {
	seq  uint64
	data []byte
	toc  pack.TOC
}

// claimState says what claim found.
type claimState int

const (
	claimNew     claimState = iota // the caller must store the chunk
	claimPending                   // stored by another frame not yet durable
	claimDurable                   // indexed
)

// claim checks whether the repository holds id. If not, it records id as
// pending under t, so that no other writer stores it again, and returns
// claimNew. For a chunk pending under another ticket it returns that ticket.
func (s *Store) claim(id ID, t *ticket) (claimState, *ticket, error) {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return 0, nil, s.err
	}
	if other, ok := s.pending[id]; ok {
		s.mu.Unlock()
		return claimPending, other, nil
	}
	s.mu.Unlock()
	// The index is only ever added to before a pending entry is removed, so
	// a chunk missing from both is really new.
	// A chunk held only by condemned packs is stored again: those packs
	// are about to go.
	_, f, err := s.idx.Lookup(id, s.lease.Avoid)
	if err != nil {
		return 0, nil, s.wrap("index lookup", err)
	}
	if f == index.FoundOK {
		return claimDurable, nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if other, ok := s.pending[id]; ok {
		return claimPending, other, nil
	}
	if _, f, _ := s.idx.Lookup(id, s.lease.Avoid); f == index.FoundOK {
		return claimDurable, nil, nil
	}
	s.pending[id] = t
	return claimNew, t, nil
}

// appendFrame adds a compressed frame holding chunks to the open pack and
// finishes t. It seals the pack when it is full.
func (s *Store) appendFrame(frame []byte, ulen int, chunks []pack.ChunkInfo, t *ticket) {
	s.mu.Lock()
	if s.err != nil {
		err := s.err
		s.mu.Unlock()
		t.finish(0, err)
		return
	}
	if s.cur == nil {
		s.cur = &packBuilder{seq: s.nextSeq, data: make([]byte, 0, s.cfg.PackSize+s.cfg.GroupSize/4)}
		s.nextSeq++
	}
	b := s.cur
	fi := uint32(len(b.toc.Frames))
	b.toc.Frames = append(b.toc.Frames, pack.FrameInfo{
		Offset: int64(len(b.data)), CLen: uint32(len(frame)), ULen: uint32(ulen), Hash: Sum(frame),
	})
	for _, c := range chunks {
		c.Frame = fi
		b.toc.Chunks = append(b.toc.Chunks, c)
	}
	b.data = append(b.data, frame...)
	t.finish(b.seq, nil)
	full := len(b.data) >= s.cfg.PackSize
	if full {
		s.cur = nil
	}
	s.mu.Unlock()
	if full {
		s.startUpload(b)
	}
}

// seal stores the open pack, if any, whatever its size.
func (s *Store) seal() {
	s.mu.Lock()
	b := s.cur
	s.cur = nil
	s.mu.Unlock()
	if b != nil {
		s.startUpload(b)
	}
}

func (s *Store) startUpload(b *packBuilder) {
	s.upMu.Lock()
	s.uploads++
	s.upMu.Unlock()
	s.uploadSem <- struct{}{}
	go func() {
		defer func() {
			s.upMu.Lock()
			if s.uploads--; s.uploads == 0 {
				s.upIdle.Broadcast()
			}
			s.upMu.Unlock()
		}()
		defer func() { <-s.uploadSem }()
		err := s.storePack(context.Background(), b)
		s.packDone(b.seq, err)
		if err != nil {
			s.fail(err)
		}
	}()
}

// storePack writes a pack, then its index object, then the local index, and
// only then forgets its chunks' pending entries.
func (s *Store) storePack(ctx context.Context, b *packBuilder) error {
	toc := b.toc.Encode()
	data := pack.AppendTrailer(b.data, toc)
	id := pack.NewID(data)
	if err := s.be.Put(ctx, PackKey(id), bytes.NewReader(data), int64(len(data))); err != nil {
		return s.wrap("store pack "+id.String(), err)
	}
	if err := s.be.Put(ctx, IndexKey(id), bytes.NewReader(toc), int64(len(toc))); err != nil {
		return s.wrap("store index of pack "+id.String(), err)
	}
	if err := s.idx.AddPack(id, &b.toc); err != nil {
		return s.wrap("update local index", err)
	}
	s.mu.Lock()
	for _, c := range b.toc.Chunks {
		delete(s.pending, c.ID)
	}
	s.mu.Unlock()
	return nil
}

// Sync brings the local index up to date with the repository. It loads
// every index object it does not have yet (written by another process, or
// before the index was deleted), and forgets the packs whose index objects
// are gone (deleted by garbage collection). It also loads the condemned
// list, if any (see Condemned).
//
// Each new index object is checked against its pack's trailer; one that is
// damaged or disagrees with its pack is replaced by the pack's own table
// of contents. A pack whose table cannot be read either way is left out of
// the index (its chunks read as missing), and so is a pack without an index
// object: Sync lists index objects, not packs (Rebuild from the packs finds
// it).
//
// Sync keeps the ids of the indexed packs in a map while it runs: about 84
// bytes a pack (a million random ids measured), so 10 million packs, 320
// TiB of 32 MiB packs, take about 0.8 GiB.
func (s *Store) Sync(ctx context.Context) error {
	cond, err := lease.LoadCondemned(ctx, s.be)
	if err != nil {
		return err
	}
	// Only packs indexed before the listing starts may be forgotten: one
	// this process stores meanwhile may be missing from the listing.
	known := make(map[ID]bool)
	if err := s.idx.Packs(func(id ID) error { known[id] = false; return nil }); err != nil {
		return s.wrap("read local index", err)
	}
	var todo []ID
	err = s.be.List(ctx, "index/", func(fi backend.Info) error {
		id, err := ParseID(fi.Key[len("index/"):])
		if err != nil {
			return nil // not ours
		}
		if _, ok := known[id]; ok {
			known[id] = true
			return nil
		}
		ok, err := s.idx.HasPack(id)
		if err == nil && !ok {
			todo = append(todo, id)
		}
		return err
	})
	if err != nil {
		return s.wrap("list index", err)
	}
	for _, id := range todo {
		toc, err := s.syncTOC(ctx, id)
		if err != nil {
			return err
		}
		if toc == nil {
			continue
		}
		if err := s.idx.AddPack(id, toc); err != nil {
			return s.wrap("update local index", err)
		}
	}
	for id, listed := range known {
		if listed {
			continue
		}
		if err := s.idx.RemovePack(id); err != nil {
			return s.wrap("update local index", err)
		}
	}
	s.lease.Load(cond)
	return nil
}

// syncTOC returns the table of contents of pack id for Sync, or nil if
// neither the index object nor the pack yields one.
func (s *Store) syncTOC(ctx context.Context, id ID) (*pack.TOC, error) {
	data, err := s.readObject(ctx, IndexKey(id), 0, -1, pack.MaxTOCSize)
	var toc *pack.TOC
	if err == nil {
		toc, err = pack.DecodeTOC(data)
	}
	if err == nil {
		ok, err := s.matchesTrailer(ctx, id, data, toc)
		if ok || err != nil {
			return toc, err
		}
	}
	ptoc, perr := s.ReadTOC(ctx, id)
	switch {
	case perr == nil:
		return ptoc, nil
	case !errors.Is(perr, ErrCorrupt) && !errors.Is(perr, backend.ErrNotExist):
		return nil, perr
	case toc != nil:
		// The pack is missing or its end is damaged: keep the index
		// object, whose chunks are checked against their ids when read.
		return toc, nil
	}
	return nil, nil
}

// matchesTrailer reports whether an index object agrees with the trailer
// of its pack (length and checksum of the table, size of the pack). It
// returns false, nil when the pack is missing or has no valid trailer.
func (s *Store) matchesTrailer(ctx context.Context, id ID, data []byte, toc *pack.TOC) (bool, error) {
	fi, err := s.be.Stat(ctx, PackKey(id))
	if errors.Is(err, backend.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, s.wrap("stat pack "+id.String(), err)
	}
	if fi.Size < pack.TrailerSize {
		return false, nil
	}
	tr, err := s.readObject(ctx, PackKey(id), fi.Size-pack.TrailerSize, pack.TrailerSize, pack.TrailerSize)
	if errors.Is(err, ErrCorrupt) || errors.Is(err, backend.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	n, sum, err := pack.ParseTrailer(tr)
	got := Sum(data)
	return err == nil && n == int64(len(data)) && bytes.Equal(got[:8], sum[:]) &&
		toc.DataSize()+n+pack.TrailerSize == fi.Size, nil
}

// ReadTOC reads the table of contents at the end of pack id and checks it
// against the trailer's checksum.
func (s *Store) ReadTOC(ctx context.Context, id ID) (*pack.TOC, error) {
	fi, err := s.be.Stat(ctx, PackKey(id))
	if err != nil {
		return nil, s.wrap("stat pack "+id.String(), err)
	}
	if fi.Size < pack.TrailerSize {
		return nil, fmt.Errorf("%w: pack %s: %d bytes", ErrCorrupt, id, fi.Size)
	}
	tr, err := s.readObject(ctx, PackKey(id), fi.Size-pack.TrailerSize, pack.TrailerSize, pack.TrailerSize)
	if err != nil {
		return nil, err
	}
	n, sum, err := pack.ParseTrailer(tr)
	if err != nil || n > fi.Size-pack.TrailerSize {
		return nil, fmt.Errorf("%w: pack %s: bad trailer", ErrCorrupt, id)
	}
	data, err := s.readObject(ctx, PackKey(id), fi.Size-pack.TrailerSize-n, n, pack.MaxTOCSize)
	if err != nil {
		return nil, err
	}
	if got := Sum(data); !bytes.Equal(got[:8], sum[:]) {
		return nil, fmt.Errorf("%w: pack %s: table of contents checksum mismatch", ErrCorrupt, id)
	}
	toc, err := pack.DecodeTOC(data)
	if err != nil {
		return nil, fmt.Errorf("pack %s: %w", id, err)
	}
	if toc.DataSize() != fi.Size-pack.TrailerSize-n {
		return nil, fmt.Errorf("%w: pack %s: frames do not fill the pack", ErrCorrupt, id)
	}
	return toc, nil
}

// readExact reads n bytes of an object at off into a buffer of that size.
func (s *Store) readExact(ctx context.Context, key string, off, n int64) ([]byte, error) {
	if n > 2*MaxFrameSize {
		return nil, fmt.Errorf("%w: %s: read of %d bytes at %d", ErrCorrupt, key, n, off)
	}
	rc, err := s.be.Get(ctx, key, off, n)
	if err != nil {
		return nil, s.wrap("read "+key, err)
	}
	defer rc.Close()
	buf := getBuf(int(n))[:n]
	if _, err := io.ReadFull(rc, buf); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: %s: short read of %d bytes at %d", ErrCorrupt, key, n, off)
		}
		return nil, s.wrap("read "+key, err)
	}
	return buf, nil
}

// readObject reads a range of an object, at most max bytes.
func (s *Store) readObject(ctx context.Context, key string, off, n int64, max int64) ([]byte, error) {
	rc, err := s.be.Get(ctx, key, off, n)
	if err != nil {
		return nil, s.wrap("read "+key, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, max+1))
	if err != nil {
		return nil, s.wrap("read "+key, err)
	}
	if int64(len(data)) > max || (n >= 0 && int64(len(data)) != n) {
		return nil, fmt.Errorf("%w: %s: read %d bytes, want %d", ErrCorrupt, key, len(data), n)
	}
	return data, nil
}
