package narstore

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/loctable"
	"github.com/nardedup/nardedup/narfmt"
	"github.com/nardedup/nardedup/pathstrip"
)

const (
	manifestMagic = "NDMF"
	// manifestV1 has no chunk locations; manifestV2 ends with a location
	// table (package chunkstore/loctable) of three sections.
	manifestV1 = 1
	manifestV2 = 2
	// maxManifestSize bounds a manifest object read from the repository.
	maxManifestSize = 64 << 20
	refSize         = chunkstore.IDSize + 1 // smallest encoded ref
)

// ErrCorrupt is wrapped by errors about damaged manifests and recipes.
var ErrCorrupt = errors.New("narstore: corrupt data")

// Manifest says how to rebuild one NAR.
type Manifest struct {
	NarHash       narfmt.Hash // SHA-256 of the NAR
	NarSize       uint64
	ResidueSize   uint64
	PositionsSize uint64
	Recipe        []chunkstore.Ref // chunks of the recipe stream
	Positions     []chunkstore.Ref // chunks of the positions stream
	Paths         []string         // distinct store path strings cut out
	// Locations, if not nil, says where every chunk lies: its sections
	// are the Recipe chunks, the Positions chunks and the residue chunks
	// in the order the recipe lists them. Manifests written before it
	// existed have none; their chunks are found in the index.
	Locations *loctable.Table
	locs      []byte // Locations encoded
}

// Sections of a manifest's location table.
const (
	SectionRecipe = iota
	SectionPositions
	SectionResidue
	numSections
)

// SetLocations sets the location table from its encoded form.
func (m *Manifest) SetLocations(enc []byte) error {
	t, err := loctable.Decode(enc, numSections)
	if err != nil {
		return fmt.Errorf("%w: manifest: %v", ErrCorrupt, err)
	}
	if t.Len(SectionRecipe) != uint64(len(m.Recipe)) || t.Len(SectionPositions) != uint64(len(m.Positions)) {
		return fmt.Errorf("%w: manifest: locations of %d recipe and %d positions chunks for %d and %d",
			ErrCorrupt, t.Len(SectionRecipe), t.Len(SectionPositions), len(m.Recipe), len(m.Positions))
	}
	m.Locations, m.locs = t, enc
	return nil
}

// Encode returns the manifest's binary form.
func (m *Manifest) Encode() []byte {
	version := byte(manifestV1)
	if m.Locations != nil {
		version = manifestV2
	}
	b := append([]byte(manifestMagic), version)
	b = append(b, m.NarHash[:]...)
	b = binary.AppendUvarint(b, m.NarSize)
	b = binary.AppendUvarint(b, m.ResidueSize)
	b = binary.AppendUvarint(b, m.PositionsSize)
	b = appendRefs(b, m.Recipe)
	b = appendRefs(b, m.Positions)
	paths := pathstrip.EncodePaths(m.Paths)
	b = binary.AppendUvarint(b, uint64(len(paths)))
	b = append(b, paths...)
	if version == manifestV2 {
		b = binary.AppendUvarint(b, uint64(len(m.locs)))
		b = append(b, m.locs...)
	}
	return b
}

func appendRefs(b []byte, refs []chunkstore.Ref) []byte {
	b = binary.AppendUvarint(b, uint64(len(refs)))
	for _, r := range refs {
		b = appendRef(b, r)
	}
	return b
}

func appendRef(b []byte, r chunkstore.Ref) []byte {
	b = append(b, r.ID[:]...)
	return binary.AppendUvarint(b, uint64(r.Size))
}

// DecodeManifest parses a manifest written by Encode.
func DecodeManifest(b []byte, maxPaths int) (*Manifest, error) {
	if len(b) < len(manifestMagic)+1+32 || string(b[:4]) != manifestMagic {
		return nil, fmt.Errorf("%w: manifest: bad magic", ErrCorrupt)
	}
	version := b[4]
	if version != manifestV1 && version != manifestV2 {
		return nil, fmt.Errorf("%w: manifest: version %d", ErrCorrupt, version)
	}
	m := &Manifest{}
	copy(m.NarHash[:], b[5:])
	d := &decoder{b: b[5+32:]}
	m.NarSize = d.uvarint()
	m.ResidueSize = d.uvarint()
	m.PositionsSize = d.uvarint()
	m.Recipe = d.refs()
	m.Positions = d.refs()
	enc := d.bytes()
	var locs []byte
	if version == manifestV2 {
		locs = d.bytes()
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%w: manifest: %d bytes after its end", ErrCorrupt, len(d.b))
	}
	if d.err != nil {
		return nil, d.err
	}
	paths, err := pathstrip.DecodePaths(enc, maxPaths)
	if err != nil {
		return nil, fmt.Errorf("%w: manifest: %v", ErrCorrupt, err)
	}
	m.Paths = paths
	if version == manifestV2 {
		if err := m.SetLocations(locs); err != nil {
			return nil, err
		}
	}
	return m, nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = fmt.Errorf("%w: truncated varint", ErrCorrupt)
		return 0
	}
	d.b = d.b[n:]
	return v
}

// bytes reads a length-prefixed byte string.
func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)) {
		d.err = fmt.Errorf("%w: manifest: %d bytes announced, %d left", ErrCorrupt, n, len(d.b))
	}
	if d.err != nil {
		return nil
	}
	b := d.b[:n]
	d.b = d.b[n:]
	return b
}

func (d *decoder) ref() chunkstore.Ref {
	var r chunkstore.Ref
	if d.err != nil {
		return r
	}
	if len(d.b) < chunkstore.IDSize {
		d.err = fmt.Errorf("%w: truncated chunk id", ErrCorrupt)
		return r
	}
	copy(r.ID[:], d.b)
	d.b = d.b[chunkstore.IDSize:]
	size := d.uvarint()
	if size == 0 || size > chunkstore.MaxChunkSize {
		d.err = fmt.Errorf("%w: chunk length %d", ErrCorrupt, size)
	}
	r.Size = uint32(size)
	return r
}

func (d *decoder) refs() []chunkstore.Ref {
	n := d.uvarint()
	if n > uint64(len(d.b)/refSize) {
		if d.err == nil {
			d.err = fmt.Errorf("%w: %d refs exceed the data", ErrCorrupt, n)
		}
		return nil
	}
	refs := make([]chunkstore.Ref, 0, n)
	for i := uint64(0); i < n && d.err == nil; i++ {
		refs = append(refs, d.ref())
	}
	return refs
}
