package chunkstore

import (
	"sort"

	"github.com/nardedup/nardedup/chunkstore/index"
)

// Location says where a chunk is stored (see package index).
type Location = index.Location

// IndexStats returns the number of packs and of chunk locations in the
// local index (a chunk stored in two packs counts twice).
func (s *Store) IndexStats() (packs, chunks int, err error) {
	if err := s.needIndex("index stats"); err != nil {
		return 0, 0, err
	}
	packs, chunks, err = s.idx.Stats()
	if err != nil {
		err = s.wrap("read local index", err)
	}
	return packs, chunks, err
}

// PackChunks calls fn with every chunk of an indexed pack, in the order
// they lie in the pack.
func (s *Store) PackChunks(pack ID, fn func(ID, Location) error) error {
	if err := s.needIndex("pack " + pack.String()); err != nil {
		return err
	}
	type entry struct {
		id  ID
		loc Location
	}
	var all []entry
	err := s.idx.PackChunks(pack, func(id ID, loc Location) error {
		all = append(all, entry{id, loc})
		return nil
	})
	if err != nil {
		return s.wrap("read local index", err)
	}
	sort.Slice(all, func(i, j int) bool {
		a, b := all[i].loc, all[j].loc
		if a.FrameOffset != b.FrameOffset {
			return a.FrameOffset < b.FrameOffset
		}
		return a.Offset < b.Offset
	})
	for _, e := range all {
		if err := fn(e.id, e.loc); err != nil {
			return err
		}
	}
	return nil
}

// Packs calls fn with the id of every pack in the local index.
func (s *Store) Packs(fn func(ID) error) error {
	if err := s.needIndex("list packs"); err != nil {
		return err
	}
	if err := s.idx.Packs(fn); err != nil {
		return s.wrap("read local index", err)
	}
	return nil
}

// Locations calls fn with every indexed location of chunk id, in pack id
// order.
func (s *Store) Locations(id ID, fn func(Location) error) error {
	if err := s.needIndex("chunk " + id.String()); err != nil {
		return err
	}
	if err := s.idx.Locations(id, fn); err != nil {
		return s.wrap("read local index", err)
	}
	return nil
}

// Frame is one frame of a pack and the indexed chunks it holds, in the
// order they lie in it.
type Frame struct {
	Loc    Location // of the first chunk: names the frame
	Chunks []ID
	Locs   []Location
}

// PackFrames returns the frames of an indexed pack, in the order they lie
// in it.
func (s *Store) PackFrames(pack ID) ([]Frame, error) {
	var frames []Frame
	err := s.PackChunks(pack, func(id ID, loc Location) error {
		if n := len(frames); n == 0 || frames[n-1].Loc.FrameOffset != loc.FrameOffset {
			frames = append(frames, Frame{Loc: loc})
		}
		f := &frames[len(frames)-1]
		f.Chunks, f.Locs = append(f.Chunks, id), append(f.Locs, loc)
		return nil
	})
	return frames, err
}
