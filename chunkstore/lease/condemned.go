package lease

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/pack"
	"github.com/nardedup/nardedup/repo/layout"
)

// CondemnedKey is the object that lists what a garbage collection has
// condemned and will delete once every writer has seen the list.
var CondemnedKey = layout.Key(layout.Condemned, "")

const condemnedMagic = "NDGC\x01"

// Condemned lists packs and other objects (manifests) that a garbage
// collection found unreferenced and means to delete. While the list stands,
// every Writer that has loaded it stores again any chunk it would
// otherwise have deduplicated against a condemned pack, and readers prefer
// other copies (see the package documentation).
type Condemned struct {
	ID      string // unique to one collection
	Packs   []pack.ID
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
		return nil, fmt.Errorf("%w: %s: bad magic", pack.ErrCorrupt, CondemnedKey)
	}
	d := pack.NewDecoder(b[len(condemnedMagic):])
	c := &Condemned{}
	c.ID = string(d.Bytes(d.Count(d.Len())))
	n := d.Count(d.Len() / pack.IDSize)
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
