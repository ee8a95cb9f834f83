package chunkstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/pack"
)

// CondemnedKey is the object that lists what a garbage collection has
// condemned and will delete once every writer has seen the list.
const CondemnedKey = "gc/condemned"

const condemnedMagic = "NDGC\x01"

// Condemned lists packs and other objects (manifests) that a garbage
// collection found unreferenced and means to delete. While the list stands,
// every Store that has loaded it (Sync) stores again any chunk it would
// otherwise have deduplicated against a condemned pack, and readers prefer
// other copies; see package gc for the protocol.
type Condemned struct {
	ID      string // unique to one collection
	Packs   []ID
	Objects []string // backend keys
}

// Encode returns the list's binary form.
func (c *Condemned) Encode() []byte {
	b := []byte(condemnedMagic)
	b = binary.AppendUvarint(b, uint64(len(c.ID)))
	b = append(b, c.ID...)
	b = binary.AppendUvarint(b, uint64(len(c.Packs)))
	for _, p := range c.Packs {
		b = append(b, p[:]...)
	}
	b = binary.AppendUvarint(b, uint64(len(c.Objects)))
	for _, k := range c.Objects {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
	}
	return b
}

// DecodeCondemned parses a list written by Encode.
func DecodeCondemned(b []byte) (*Condemned, error) {
	if !bytes.HasPrefix(b, []byte(condemnedMagic)) {
		return nil, fmt.Errorf("%w: %s: bad magic", ErrCorrupt, CondemnedKey)
	}
	d := pack.NewDecoder(b[len(condemnedMagic):])
	c := &Condemned{}
	c.ID = string(d.Bytes(d.Count(d.Len())))
	n := d.Count(d.Len() / IDSize)
	for i := 0; i < n && d.Err() == nil; i++ {
		c.Packs = append(c.Packs, d.ID())
	}
	n = d.Count(d.Len())
	for i := 0; i < n && d.Err() == nil; i++ {
		k := string(d.Bytes(d.Count(d.Len())))
		if d.Err() == nil && backend.ValidKey(k) != nil {
			d.Fail("object %q", k)
		}
		c.Objects = append(c.Objects, k)
	}
	if d.Err() == nil && (d.Len() != 0 || c.ID == "") {
		d.Fail("%d trailing bytes or no id", d.Len())
	}
	if d.Err() != nil {
		return nil, fmt.Errorf("%s: %w", CondemnedKey, d.Err())
	}
	return c, nil
}

// LoadCondemned reads the repository's condemned list, or returns nil if
// there is none.
func LoadCondemned(ctx context.Context, be backend.Backend) (*Condemned, error) {
	data, err := backend.ReadAll(ctx, be, CondemnedKey)
	if errors.Is(err, backend.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("chunkstore: read %s on %s: %w", CondemnedKey, be, err)
	}
	return DecodeCondemned(data)
}

// condemnedSet is a loaded list, ready for lookups.
type condemnedSet struct {
	id    string
	packs map[ID]struct{}
	keys  map[string]struct{}
}

func newCondemnedSet(c *Condemned) *condemnedSet {
	if c == nil {
		return &condemnedSet{}
	}
	cs := &condemnedSet{id: c.ID, packs: make(map[ID]struct{}, len(c.Packs)),
		keys: make(map[string]struct{}, len(c.Objects))}
	for _, p := range c.Packs {
		cs.packs[p] = struct{}{}
	}
	for _, k := range c.Objects {
		cs.keys[k] = struct{}{}
	}
	return cs
}

// avoid reports whether pack is condemned in the list the store has
// loaded.
func (s *Store) avoid(pack ID) bool {
	c := s.condemned.Load()
	_, ok := c.packs[pack]
	return ok
}

// IsCondemned reports whether the object key is condemned in the list the
// store last loaded: a writer must not make new references to it.
func (s *Store) IsCondemned(key string) bool {
	_, ok := s.condemned.Load().keys[key]
	return ok
}

// View names the condemned list the store's lookups honour ("" for none).
func (s *Store) View() string { return s.condemned.Load().id }

// Hold marks the start of an operation that may make new references to
// stored chunks or objects (storing a NAR, linking a narinfo to a stored
// NAR): until release is called, Views reports the view it started with.
// A garbage collection deletes what it condemned only once no operation
// started before its list was loaded is still running.
func (s *Store) Hold() (release func()) {
	s.holdMu.Lock()
	v := s.View()
	s.holds[v]++
	s.holdMu.Unlock()
	var once bool
	return func() {
		s.holdMu.Lock()
		defer s.holdMu.Unlock()
		if once {
			return
		}
		once = true
		if s.holds[v]--; s.holds[v] == 0 {
			delete(s.holds, v)
		}
	}
}

// Views returns the current view and those of the operations still held.
func (s *Store) Views() []string {
	s.holdMu.Lock()
	defer s.holdMu.Unlock()
	cur := s.View()
	vs := []string{cur}
	for v := range s.holds {
		if v != cur {
			vs = append(vs, v)
		}
	}
	return vs
}

// WaitUncondemned waits until key is no longer condemned in the store's
// view, reloading the view (Sync) at most once every ResyncInterval.
func (s *Store) WaitUncondemned(ctx context.Context, key string) error {
	every := max(s.opts.ResyncInterval, time.Second)
	for s.IsCondemned(key) {
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
