package chunkstore

import (
	"context"
	"fmt"
	"sync"
)

// Commit arranges for fn to run once every chunk of the streams described by
// results is stored and indexed: with nil, or with the error that kept one of
// them from being stored. fn runs on an internal goroutine, or on the calling
// one if the chunks are durable already; it must not call Flush. Commit
// itself waits only until the frames holding those chunks are placed in
// packs, which needs every Writer they came from to make progress: close all
// of a caller's writers before committing any of them.
func (s *Store) Commit(ctx context.Context, fn func(error), results ...WriteResult) error {
	var seq uint64
	for _, r := range results {
		for _, t := range r.deps {
			select {
			case <-t.done:
			case <-ctx.Done():
				return ctx.Err()
			}
			if t.err != nil {
				return fmt.Errorf("chunkstore: a chunk of the stream failed to store: %w", t.err)
			}
			seq = max(seq, t.seq)
		}
	}
	s.durable.after(seq, fn, s.Err)
	return nil
}

// durability runs the callbacks queued for packs (Commit) once they are
// stored and indexed. Packs are numbered in the order they were opened
// (seq) and become durable in that order, whatever order their uploads
// end in.
type durability struct {
	mu       sync.Mutex
	durable  uint64           // every pack with seq <= durable is stored and indexed
	finished map[uint64]error // packs done out of order
	waiting  map[uint64][]func(error)
}

func newDurability() *durability {
	return &durability{finished: make(map[uint64]error), waiting: make(map[uint64][]func(error))}
}

// after runs fn once pack seq is durable: at once if it is, with the
// store's sticky error (stopped) if that keeps it from ever being.
func (d *durability) after(seq uint64, fn func(error), stopped func() error) {
	d.mu.Lock()
	if seq > d.durable {
		if err := stopped(); err != nil {
			d.mu.Unlock()
			fn(err)
			return
		}
	}
	if seq <= d.durable {
		d.mu.Unlock()
		fn(nil)
		return
	}
	if err, ok := d.finished[seq]; ok && err != nil {
		d.mu.Unlock()
		fn(err)
		return
	}
	d.waiting[seq] = append(d.waiting[seq], fn)
	d.mu.Unlock()
}

// done records that pack seq was stored (err == nil) or failed, and runs
// the callbacks that became due.
func (d *durability) done(seq uint64, err error) {
	var due []func(error)
	var dueErr []func(error)
	d.mu.Lock()
	d.finished[seq] = err
	if err != nil {
		dueErr = d.waiting[seq]
		delete(d.waiting, seq)
	}
	for {
		e, ok := d.finished[d.durable+1]
		if !ok || e != nil {
			break
		}
		d.durable++
		delete(d.finished, d.durable)
		due = append(due, d.waiting[d.durable]...)
		delete(d.waiting, d.durable)
	}
	d.mu.Unlock()
	for _, fn := range dueErr {
		fn(err)
	}
	for _, fn := range due {
		fn(nil)
	}
}

// failAll fails every callback still waiting with err.
func (d *durability) failAll(err error) {
	d.mu.Lock()
	var fns []func(error)
	for seq, w := range d.waiting {
		fns = append(fns, w...)
		delete(d.waiting, seq)
	}
	d.mu.Unlock()
	for _, fn := range fns {
		fn(err)
	}
}

// fail makes err the store's sticky error and fails every callback still
// waiting.
func (s *Store) fail(err error) {
	s.wr.mu.Lock()
	if s.wr.err == nil {
		s.wr.err = err
	}
	s.wr.mu.Unlock()
	s.durable.failAll(err)
}

// Err returns the error that stopped the store, or nil.
func (s *Store) Err() error {
	s.wr.mu.Lock()
	defer s.wr.mu.Unlock()
	return s.wr.err
}
