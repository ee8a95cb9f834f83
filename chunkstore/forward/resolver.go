package forward

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/index"
	"github.com/nardedup/nardedup/chunkstore/pack"
	"github.com/nardedup/nardedup/repo/layout"
)

// MaxHops bounds the records Resolve follows for one chunk: a chunk moved
// by more collections than that between a location's writing and its
// reading is reported, not looked for further.
const MaxHops = 8

// DefaultCacheEntries is the Resolver's bound when NewResolver is given
// none.
const DefaultCacheEntries = 1 << 18

// ErrNotForwarded is wrapped by Resolve's error when no record names the
// chunk: the gone pack (or one it was forwarded to) has no record, or its
// record lacks the chunk.
var ErrNotForwarded = errors.New("forward: chunk not forwarded")

// Resolver finds where the chunks of deleted packs live now, keeping the
// records it read, most recently used first, up to a number of entries.
// Concurrent callers that need the same record share one read. It is safe
// for concurrent use.
type Resolver struct {
	be  backend.Backend
	max int // entries

	mu      sync.Mutex
	lru     *list.List // of *Record, most recently used first
	cached  map[pack.ID]*list.Element
	size    int // entries in lru
	loading map[pack.ID]*load
	loads   int
	alive   map[pack.ID]time.Time // packs seen to exist, and when
}

// aliveFor is how long Resolve trusts that a pack it saw exists still
// does, so that the chunks of one gone pack cost one Stat, not one each;
// maxAlive bounds how many such packs it remembers.
const (
	aliveFor = 10 * time.Second
	maxAlive = 4096
)

type load struct {
	done chan struct{}
	rec  *Record
	err  error
}

// NewResolver returns a resolver reading the records on be and keeping up
// to maxEntries entries of them (DefaultCacheEntries if not positive).
func NewResolver(be backend.Backend, maxEntries int) *Resolver {
	if maxEntries <= 0 {
		maxEntries = DefaultCacheEntries
	}
	return &Resolver{be: be, max: maxEntries, lru: list.New(),
		cached: make(map[pack.ID]*list.Element), loading: make(map[pack.ID]*load),
		alive: make(map[pack.ID]time.Time)}
}

// Resolve returns where chunk id lives now that pack gone was deleted: the
// location its forward record gives, or, if that pack is gone too, the
// location the next record gives, up to MaxHops records. The pack of the
// location it returns existed when Resolve checked. Its errors name the
// chunk and gone; they wrap ErrNotForwarded when a record is missing or
// lacks the chunk.
func (r *Resolver) Resolve(ctx context.Context, gone pack.ID, id pack.ID) (index.Location, error) {
	p := gone
	for range MaxHops {
		rec, err := r.Record(ctx, p)
		if errors.Is(err, backend.ErrNotExist) {
			return index.Location{}, fmt.Errorf("chunk %s: pack %s is gone%s and has no forward record: %w (%w)",
				id, gone, via(gone, p), ErrNotForwarded, err)
		}
		if err != nil {
			return index.Location{}, fmt.Errorf("chunk %s of gone pack %s: %w", id, gone, err)
		}
		loc, ok := rec.Find(id)
		if !ok {
			return index.Location{}, fmt.Errorf("chunk %s: pack %s is gone%s and its forward record lacks the chunk: %w",
				id, gone, via(gone, p), ErrNotForwarded)
		}
		err = r.exists(ctx, loc.Pack)
		if err == nil {
			return loc, nil
		}
		if !errors.Is(err, backend.ErrNotExist) {
			return index.Location{}, fmt.Errorf("chunk %s of gone pack %s: stat pack %s: %w", id, gone, loc.Pack, err)
		}
		p = loc.Pack
	}
	return index.Location{}, fmt.Errorf("chunk %s: pack %s is gone and was forwarded more than %d times", id, gone, MaxHops)
}

// exists returns nil if pack p exists: seen within aliveFor, or by a Stat.
func (r *Resolver) exists(ctx context.Context, p pack.ID) error {
	r.mu.Lock()
	seen, ok := r.alive[p]
	r.mu.Unlock()
	if ok && time.Since(seen) < aliveFor {
		return nil
	}
	if _, err := r.be.Stat(ctx, layout.Key(layout.Pack, p.String())); err != nil {
		return err
	}
	r.mu.Lock()
	if len(r.alive) >= maxAlive {
		clear(r.alive)
	}
	r.alive[p] = time.Now()
	r.mu.Unlock()
	return nil
}

// via says through which pack a chain reached p.
func via(gone, p pack.ID) string {
	if p == gone {
		return ""
	}
	return fmt.Sprintf(" (forwarded to pack %s, gone too)", p)
}

// Record returns the forward record of pack p, from the cache or read
// (Get).
func (r *Resolver) Record(ctx context.Context, p pack.ID) (*Record, error) {
	r.mu.Lock()
	if el, ok := r.cached[p]; ok {
		r.lru.MoveToFront(el)
		r.mu.Unlock()
		return el.Value.(*Record), nil
	}
	l, ok := r.loading[p]
	if !ok {
		l = &load{done: make(chan struct{})}
		r.loading[p] = l
		r.loads++
		// Not the caller's context: other callers may wait for this read,
		// and it goes on for them if this one gives up.
		go r.load(context.WithoutCancel(ctx), p, l)
	}
	r.mu.Unlock()
	select {
	case <-l.done:
		return l.rec, l.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (r *Resolver) load(ctx context.Context, p pack.ID, l *load) {
	l.rec, l.err = Get(ctx, r.be, p)
	r.mu.Lock()
	delete(r.loading, p)
	if l.err == nil {
		r.add(l.rec)
	}
	r.mu.Unlock()
	close(l.done)
}

// add caches rec and drops the least recently used records beyond the
// bound. A record larger than the whole bound is not kept.
func (r *Resolver) add(rec *Record) {
	if len(rec.Entries) > r.max {
		return
	}
	r.cached[rec.Pack] = r.lru.PushFront(rec)
	r.size += len(rec.Entries)
	for r.size > r.max {
		old := r.lru.Back()
		o := r.lru.Remove(old).(*Record)
		delete(r.cached, o.Pack)
		r.size -= len(o.Entries)
	}
}

// Stats returns how many records the resolver has read from the backend,
// and how many records and entries it keeps.
func (r *Resolver) Stats() (loads, records, entries int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.loads, r.lru.Len(), r.size
}
