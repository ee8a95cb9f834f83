package pack

import (
	"encoding/binary"
	"fmt"

	"github.com/zeebo/blake3"
)

const (
	// MaxTOCSize bounds a table of contents, so a damaged trailer cannot
	// make a reader allocate more.
	MaxTOCSize = 64 << 20
	// TrailerSize is the length of a pack's trailer.
	TrailerSize = 16

	packMagic = "NDPK"
)

// AppendTrailer appends the table and trailer to a pack's frames.
func AppendTrailer(pack, toc []byte) []byte {
	pack = append(pack, toc...)
	sum := blake3.Sum256(toc)
	pack = binary.LittleEndian.AppendUint32(pack, uint32(len(toc)))
	pack = append(pack, sum[:8]...)
	return append(pack, packMagic...)
}

// ParseTrailer reads a pack's 16-byte trailer and returns the length of its
// table of contents and the first 8 bytes of the table's BLAKE3.
func ParseTrailer(tr []byte) (tocLen int64, sum [8]byte, err error) {
	if len(tr) != TrailerSize || string(tr[12:]) != packMagic {
		return 0, sum, fmt.Errorf("%w: pack trailer: bad magic", ErrCorrupt)
	}
	tocLen = int64(binary.LittleEndian.Uint32(tr))
	if tocLen > MaxTOCSize {
		return 0, sum, fmt.Errorf("%w: pack trailer: table of %d bytes", ErrCorrupt, tocLen)
	}
	copy(sum[:], tr[4:12])
	return tocLen, sum, nil
}
