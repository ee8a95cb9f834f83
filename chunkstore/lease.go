package chunkstore

import (
	"context"
	"time"

	"github.com/nardedup/nardedup/chunkstore/lease"
)

// Lease returns the store's side of the garbage collection protocol: the
// condemned list it honours, the views of its operations in progress and
// its session's lease (see package lease).
func (s *Store) Lease() *lease.Writer { return s.lease }

// StartSession announces this process, then keeps the announcement and
// the store's view fresh until the session's Close (see package lease).
func (s *Store) StartSession(ctx context.Context, opts lease.SessionOptions) (*lease.Session, error) {
	return s.lease.StartSession(ctx, s.be, leaseStore{s}, opts)
}

// leaseStore is the Store as a session drives it.
type leaseStore struct{ *Store }

// Reload runs Sync for a heartbeat, as a lookup that misses does.
func (s leaseStore) Reload(ctx context.Context) error {
	s.syncs.mu.Lock()
	defer s.syncs.mu.Unlock()
	return s.syncLocked(ctx)
}

func (s leaseStore) Seal() { s.seal() }

// WaitUncondemned waits until key is no longer condemned in the store's
// view, reloading the view (Sync) at most once every ResyncInterval.
func (s *Store) WaitUncondemned(ctx context.Context, key string) error {
	every := max(s.opts.ResyncInterval, time.Second)
	for s.lease.IsCondemned(key) {
		// Operations of this process still holding an older view may wait
		// for the open pack: seal it, so the collection is not kept
		// waiting for them while this one waits for the collection.
		s.seal()
		select {
		case <-time.After(every):
		case <-ctx.Done():
			return ctx.Err()
		}
		if err := s.resyncNow(ctx); err != nil {
			return err
		}
	}
	return nil
}
