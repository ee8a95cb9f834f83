package chunkstore

import (
	"bytes"
	"context"
	"sync"

	"github.com/nardedup/nardedup/chunkstore/index"
	"github.com/nardedup/nardedup/chunkstore/pack"
)

// ticket stands for one frame of new chunks on its way into a pack. done is
// closed once the frame is in a pack (seq set) or has failed (err set).
type ticket struct {
	done chan struct{}
	seq  uint64
	err  error
	b    *packBuilder // the pack it went into, with Options.Candidates
}

func newTicket() *ticket { return &ticket{done: make(chan struct{})} }

func (t *ticket) finish(seq uint64, err error) {
	t.seq, t.err = seq, err
	close(t.done)
}

// writeState is the write side's: the open pack, the chunks on their way
// into packs, and the error that stopped the store.
type writeState struct {
	enc      sync.Pool // frameEncoder
	chunkers sync.Pool // *pooledChunker
	mu       sync.Mutex
	pending  map[ID]*ticket // chunks in packs not yet indexed
	cur      *packBuilder
	nextSeq  uint64
	err      error          // sticky: a pack failed to be stored
	free     [][]byte       // mapped buffers of stored packs, for the next ones
	mapped   int            // mapped buffers in use or in free
	groups   []groupBuffers // of finished writers, for the next ones
}

// packBuilder collects frames for one pack.
type packBuilder struct {
	seq  uint64
	data []byte
	buf  []byte // the mapped buffer data is in, if it is (packBuffer)
	toc  pack.TOC
	// locs, with Options.Candidates, says where each chunk lies once the
	// pack is stored (WriteResult.LocateAll).
	locs map[ID]Location
}

// claimState says what claim found.
type claimState int

const (
	claimNew     claimState = iota // the caller must store the chunk
	claimPending                   // stored by another frame not yet durable
	claimDurable                   // indexed
)

// claim checks whether the repository holds id (in the index, or among
// the candidates of a store without one). If so, it returns claimDurable
// and where. If not, it records id as pending under t, so that no other
// writer stores it again, and returns claimNew. For a chunk pending under
// another ticket it returns that ticket.
func (s *Store) claim(id ID, t *ticket) (claimState, *ticket, Location, error) {
	if s.cands != nil {
		return s.claimCandidate(id, t)
	}
	if err := s.needIndex("store chunk"); err != nil {
		return 0, nil, Location{}, err
	}
	s.wr.mu.Lock()
	if s.wr.err != nil {
		s.wr.mu.Unlock()
		return 0, nil, Location{}, s.wr.err
	}
	if other, ok := s.wr.pending[id]; ok {
		s.wr.mu.Unlock()
		return claimPending, other, Location{}, nil
	}
	s.wr.mu.Unlock()
	// The index is only ever added to before a pending entry is removed, so
	// a chunk missing from both is really new.
	// A chunk held only by condemned packs is stored again: those packs
	// are about to go.
	loc, f, err := s.idx.Lookup(id, s.lease.Avoid)
	if err != nil {
		return 0, nil, Location{}, s.wrap("index lookup", err)
	}
	if f == index.FoundOK {
		return claimDurable, nil, loc, nil
	}
	s.wr.mu.Lock()
	defer s.wr.mu.Unlock()
	if other, ok := s.wr.pending[id]; ok {
		return claimPending, other, Location{}, nil
	}
	if loc, f, _ := s.idx.Lookup(id, s.lease.Avoid); f == index.FoundOK {
		return claimDurable, nil, loc, nil
	}
	s.wr.pending[id] = t
	return claimNew, t, Location{}, nil
}

// claimCandidate is claim for a store without an index. Chunks a stored
// pack holds are added to the candidates before their pending entries are
// removed, so a chunk missing from both was not stored by this process
// lately.
func (s *Store) claimCandidate(id ID, t *ticket) (claimState, *ticket, Location, error) {
	s.wr.mu.Lock()
	defer s.wr.mu.Unlock()
	if s.wr.err != nil {
		return 0, nil, Location{}, s.wr.err
	}
	if other, ok := s.wr.pending[id]; ok {
		return claimPending, other, Location{}, nil
	}
	if loc, ok := s.cands.get(id, s.lease.Avoid); ok {
		return claimDurable, nil, loc, nil
	}
	s.wr.pending[id] = t
	return claimNew, t, Location{}, nil
}

// appendFrame adds a frame holding chunks, compressed by codec, to the open
// pack and finishes t. It seals the pack when it is full.
func (s *Store) appendFrame(frame []byte, codec pack.Codec, ulen int, chunks []pack.ChunkInfo, t *ticket) {
	s.wr.mu.Lock()
	if s.wr.err != nil {
		err := s.wr.err
		s.wr.mu.Unlock()
		t.finish(0, err)
		return
	}
	if s.wr.cur == nil {
		buf := s.packBuffer()
		s.wr.cur = &packBuilder{seq: s.wr.nextSeq, data: buf, buf: buf}
		s.wr.nextSeq++
	}
	b := s.wr.cur
	if s.cands != nil {
		t.b = b
	}
	fi := uint32(len(b.toc.Frames))
	b.toc.Frames = append(b.toc.Frames, pack.FrameInfo{
		Offset: int64(len(b.data)), CLen: uint32(len(frame)), ULen: uint32(ulen), Hash: Sum(frame), Codec: codec,
	})
	for _, c := range chunks {
		c.Frame = fi
		b.toc.Chunks = append(b.toc.Chunks, c)
	}
	b.data = append(b.data, frame...)
	t.finish(b.seq, nil)
	full := len(b.data) >= s.cfg.PackSize
	if full {
		s.wr.cur = nil
	}
	s.wr.mu.Unlock()
	if full {
		s.startUpload(b)
	}
}

// packBuffer returns an empty buffer for a pack, with room for the
// largest pack that can be built, so that appending to it never copies:
// one that a stored pack left, or a new one. Up to maxPackBuffers are
// mapped outside the Go heap (mapPackBuffer), and recycled; any others,
// and all where mapping fails, come from the heap. Call with s.wr.mu held.
func (s *Store) packBuffer() []byte {
	if n := len(s.wr.free); n > 0 {
		b := s.wr.free[n-1]
		s.wr.free = s.wr.free[:n-1]
		return b
	}
	// A pack is sealed once it reaches PackSize, so its last frame may
	// take it past by a whole frame of incompressible chunks; the table
	// of contents and the trailer follow.
	size := s.cfg.PackSize + s.cfg.GroupSize + s.cfg.GroupSize/64 + 64<<10
	if s.wr.mapped < s.maxPackBuffers() {
		if b := mapPackBuffer(size); b != nil {
			s.wr.mapped++
			return b
		}
	}
	return make([]byte, 0, size)
}

// maxPackBuffers is how many packs can be in memory at once: one being
// built, those being stored and one waiting for its turn.
func (s *Store) maxPackBuffers() int { return cap(s.uploads.sem) + 2 }

// recyclePack keeps the mapped buffer of a stored pack for the next one.
// The backend must be done with it.
func (s *Store) recyclePack(b *packBuilder) {
	if b.buf == nil {
		return
	}
	s.wr.mu.Lock()
	s.wr.free = append(s.wr.free, b.buf[:0])
	s.wr.mu.Unlock()
	b.buf = nil
}

// unmapPacks releases the mapped buffers of stored packs. Buffers of
// packs that failed to be stored stay mapped: a backend may still read
// them, and the store takes no more writes.
func (s *Store) unmapPacks() {
	s.wr.mu.Lock()
	defer s.wr.mu.Unlock()
	for _, b := range s.wr.free {
		unmapPackBuffer(b)
	}
	s.wr.mapped -= len(s.wr.free)
	s.wr.free = nil
}

// seal stores the open pack, if any, whatever its size.
func (s *Store) seal() {
	s.wr.mu.Lock()
	b := s.wr.cur
	s.wr.cur = nil
	s.wr.mu.Unlock()
	if b != nil {
		s.startUpload(b)
	}
}

// startUpload stores b on another goroutine, once fewer than
// Options.Uploads packs are being stored.
func (s *Store) startUpload(b *packBuilder) {
	s.uploads.begin()
	go func() {
		defer s.uploads.end()
		err := s.storePack(context.Background(), b)
		s.durable.done(b.seq, err)
		if err != nil {
			s.fail(err)
		}
	}()
}

// uploads bounds the packs being stored at once and counts them. Not a
// sync.WaitGroup: packs are sealed (by the flush loop, a session, Flush)
// while Flush waits.
type uploads struct {
	sem  chan struct{}
	mu   sync.Mutex
	idle *sync.Cond // signalled when n drops to 0
	n    int
}

func newUploads(max int) *uploads {
	u := &uploads{sem: make(chan struct{}, max)}
	u.idle = sync.NewCond(&u.mu)
	return u
}

// begin counts an upload, then waits for its turn.
func (u *uploads) begin() {
	u.mu.Lock()
	u.n++
	u.mu.Unlock()
	u.sem <- struct{}{}
}

// end gives the upload's turn to the next one and uncounts it.
func (u *uploads) end() {
	<-u.sem
	u.mu.Lock()
	if u.n--; u.n == 0 {
		u.idle.Broadcast()
	}
	u.mu.Unlock()
}

// wait waits until no upload is counted.
func (u *uploads) wait() {
	u.mu.Lock()
	for u.n > 0 {
		u.idle.Wait()
	}
	u.mu.Unlock()
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
	b.data = nil // tickets keep b: let the pack's bytes go
	// The backend is done with data: a successful Put returns only once
	// it has read all of it.
	s.recyclePack(b)
	if s.cands != nil {
		b.locs = packLocations(id, &b.toc)
		s.cands.addPack(id, b.locs)
	} else if err := s.idx.AddPack(id, &b.toc); err != nil {
		return s.wrap("update local index", err)
	}
	s.wr.mu.Lock()
	for _, c := range b.toc.Chunks {
		delete(s.wr.pending, c.ID)
	}
	s.wr.mu.Unlock()
	return nil
}
