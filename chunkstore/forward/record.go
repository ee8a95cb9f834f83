package forward

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/nardedup/nardedup/chunkstore/index"
	"github.com/nardedup/nardedup/chunkstore/pack"
)

// Bounds of the format.
const (
	// MaxEntries bounds the chunks of one record: more than a pack of
	// the largest size holds in chunks of the smallest.
	MaxEntries = 1 << 22
	// MaxSize bounds an encoded record.
	MaxSize = headerSize + MaxEntries*(pack.IDSize+entrySize) + sumSize
)

const (
	magic      = "NDFW"
	version    = 1
	headerSize = len(magic) + 1 + pack.IDSize + 4 + 4
	entrySize  = pack.IDSize + 4 + 8 + 4*4
	sumSize    = 8
)

// ErrCorrupt is wrapped by Decode's errors: it is package pack's, which
// every error about damaged repository data wraps.
var ErrCorrupt = pack.ErrCorrupt

// Record says where the chunks of a deleted pack live now.
type Record struct {
	Pack    pack.ID // the deleted pack
	Entries []Entry // sorted by chunk id (Decode's order; Encode sorts)
}

// Entry is one chunk of the deleted pack and a location of it in another
// pack.
type Entry struct {
	ID  pack.ID
	Loc index.Location
}

// Find returns the location of chunk id, if the record names it. The
// entries must be sorted by id.
func (r *Record) Find(id pack.ID) (index.Location, bool) {
	i, ok := slices.BinarySearchFunc(r.Entries, id, func(e Entry, id pack.ID) int {
		return bytes.Compare(e.ID[:], id[:])
	})
	if !ok {
		return index.Location{}, false
	}
	return r.Entries[i].Loc, true
}

// Encode sorts the entries by chunk id and returns the record's encoding.
// It fails for a record Decode would refuse: duplicate chunks, a location
// in the record's own pack or out of bounds, too many entries.
func (r *Record) Encode() ([]byte, error) {
	if len(r.Entries) > MaxEntries {
		return nil, fmt.Errorf("forward: record of pack %s: %d entries, at most %d", r.Pack, len(r.Entries), MaxEntries)
	}
	slices.SortFunc(r.Entries, func(a, b Entry) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	var targets []pack.ID
	for i, e := range r.Entries {
		if i > 0 && e.ID == r.Entries[i-1].ID {
			return nil, fmt.Errorf("forward: record of pack %s: chunk %s twice", r.Pack, e.ID)
		}
		if err := r.check(e); err != nil {
			return nil, fmt.Errorf("forward: record of pack %s: %w", r.Pack, err)
		}
		targets = append(targets, e.Loc.Pack)
	}
	slices.SortFunc(targets, func(a, b pack.ID) int { return bytes.Compare(a[:], b[:]) })
	targets = slices.Compact(targets)
	b := make([]byte, 0, headerSize+len(targets)*pack.IDSize+len(r.Entries)*entrySize+sumSize)
	b = append(b, magic...)
	b = append(b, version)
	b = append(b, r.Pack[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(targets)))
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.Entries)))
	for _, p := range targets {
		b = append(b, p[:]...)
	}
	for _, e := range r.Entries {
		t, _ := slices.BinarySearchFunc(targets, e.Loc.Pack, func(a, b pack.ID) int { return bytes.Compare(a[:], b[:]) })
		b = append(b, e.ID[:]...)
		b = binary.BigEndian.AppendUint32(b, uint32(t))
		b = binary.BigEndian.AppendUint64(b, uint64(e.Loc.FrameOffset))
		b = binary.BigEndian.AppendUint32(b, e.Loc.FrameCLen)
		b = binary.BigEndian.AppendUint32(b, e.Loc.FrameULen)
		b = binary.BigEndian.AppendUint32(b, e.Loc.Offset)
		b = binary.BigEndian.AppendUint32(b, e.Loc.Length)
	}
	sum := pack.Sum(b)
	return append(b, sum[:sumSize]...), nil
}

// check refuses a location that no pack could hold, or one in the
// record's own pack (a loop).
func (r *Record) check(e Entry) error {
	l := e.Loc
	var why string
	switch {
	case l.Pack == r.Pack:
		why = "forwarded to its own pack"
	case l.FrameOffset < 0 || l.FrameCLen == 0 || l.FrameULen > pack.MaxFrameSize:
		why = fmt.Sprintf("bad frame at %d (%d bytes, %d decompressed)", l.FrameOffset, l.FrameCLen, l.FrameULen)
	case l.Length > pack.MaxChunkSize || uint64(l.Offset)+uint64(l.Length) > uint64(l.FrameULen):
		why = fmt.Sprintf("%d bytes at %d outside its frame of %d", l.Length, l.Offset, l.FrameULen)
	default:
		return nil
	}
	return fmt.Errorf("chunk %s: %s", e.ID, why)
}

// Decode parses an encoded record. It fails, with an error wrapping
// ErrCorrupt, for anything Encode would not have written.
func Decode(data []byte) (*Record, error) {
	rec, err := decode(data)
	if err != nil {
		return nil, fmt.Errorf("%w: forward record: %v", ErrCorrupt, err)
	}
	return rec, nil
}

func decode(data []byte) (*Record, error) {
	if len(data) < headerSize+sumSize || len(data) > MaxSize {
		return nil, fmt.Errorf("%d bytes", len(data))
	}
	if string(data[:len(magic)]) != magic {
		return nil, errors.New("bad magic")
	}
	if v := data[len(magic)]; v != version {
		return nil, fmt.Errorf("version %d, want %d", v, version)
	}
	body := data[:len(data)-sumSize]
	if sum := pack.Sum(body); !bytes.Equal(sum[:sumSize], data[len(body):]) {
		return nil, errors.New("checksum mismatch")
	}
	rec := &Record{}
	p := data[len(magic)+1:]
	copy(rec.Pack[:], p)
	nt, ne := binary.BigEndian.Uint32(p[pack.IDSize:]), binary.BigEndian.Uint32(p[pack.IDSize+4:])
	if ne > MaxEntries || nt > ne {
		return nil, fmt.Errorf("%d entries in %d packs", ne, nt)
	}
	if want := uint64(headerSize) + uint64(nt)*pack.IDSize + uint64(ne)*entrySize + sumSize; uint64(len(data)) != want {
		return nil, fmt.Errorf("%d bytes, want %d for %d entries in %d packs", len(data), want, ne, nt)
	}
	p = body[headerSize:]
	targets := make([]pack.ID, nt)
	for i := range targets {
		copy(targets[i][:], p)
		p = p[pack.IDSize:]
		if i > 0 && bytes.Compare(targets[i-1][:], targets[i][:]) >= 0 {
			return nil, errors.New("target packs out of order")
		}
	}
	rec.Entries = make([]Entry, ne)
	for i := range rec.Entries {
		e := &rec.Entries[i]
		copy(e.ID[:], p)
		t := binary.BigEndian.Uint32(p[32:])
		if t >= nt {
			return nil, fmt.Errorf("chunk %s: target %d of %d", e.ID, t, nt)
		}
		e.Loc = index.Location{
			Pack:        targets[t],
			FrameOffset: int64(binary.BigEndian.Uint64(p[36:])),
			FrameCLen:   binary.BigEndian.Uint32(p[44:]),
			FrameULen:   binary.BigEndian.Uint32(p[48:]),
			Offset:      binary.BigEndian.Uint32(p[52:]),
			Length:      binary.BigEndian.Uint32(p[56:]),
		}
		p = p[entrySize:]
		if i > 0 && bytes.Compare(rec.Entries[i-1].ID[:], e.ID[:]) >= 0 {
			return nil, errors.New("entries out of order")
		}
		if err := rec.check(*e); err != nil {
			return nil, err
		}
	}
	return rec, nil
}
