package narstore

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/narfmt"
	"github.com/nardedup/nardedup/pathstrip"
)

const (
	manifestMagic   = "NDMF"
	manifestVersion = 1
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
}

// Encode returns the manifest's binary form.
func (m *Manifest) Encode() []byte {
	b := append([]byte(manifestMagic), manifestVersion)
	b = append(b, m.NarHash[:]...)
	b = binary.AppendUvarint(b, m.NarSize)
	b = binary.AppendUvarint(b, m.ResidueSize)
	b = binary.AppendUvarint(b, m.PositionsSize)
	b = appendRefs(b, m.Recipe)
	b = appendRefs(b, m.Positions)
	paths := pathstrip.EncodePaths(m.Paths)
	b = binary.AppendUvarint(b, uint64(len(paths)))
	return append(b, paths...)
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
	if b[4] != manifestVersion {
		return nil, fmt.Errorf("%w: manifest: version %d", ErrCorrupt, b[4])
	}
	m := &Manifest{}
	copy(m.NarHash[:], b[5:])
	d := &decoder{b: b[5+32:]}
	m.NarSize = d.uvarint()
	m.ResidueSize = d.uvarint()
	m.PositionsSize = d.uvarint()
	m.Recipe = d.refs()
	m.Positions = d.refs()
	n := d.uvarint()
	if d.err == nil && n != uint64(len(d.b)) {
		d.err = fmt.Errorf("%w: manifest: path list of %d bytes, %d left", ErrCorrupt, n, len(d.b))
	}
	if d.err != nil {
		return nil, d.err
	}
	paths, err := pathstrip.DecodePaths(d.b, maxPaths)
	if err != nil {
		return nil, fmt.Errorf("%w: manifest: %v", ErrCorrupt, err)
	}
	m.Paths = paths
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
