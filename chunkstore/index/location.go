package index

import (
	"encoding/binary"
	"fmt"

	"github.com/nardedup/nardedup/chunkstore/pack"
)

// Location says where a chunk is stored.
type Location struct {
	Pack        pack.ID
	FrameOffset int64  // of the frame in the pack
	FrameCLen   uint32 // compressed frame length
	FrameULen   uint32 // decompressed frame length
	Offset      uint32 // of the chunk in the decompressed frame
	Length      uint32
}

// locSize is the length of a location in the local index, whose key holds
// the pack id.
const locSize = 8 + 4*4

func (l *Location) encode() []byte {
	b := make([]byte, 0, locSize)
	b = binary.BigEndian.AppendUint64(b, uint64(l.FrameOffset))
	b = binary.BigEndian.AppendUint32(b, l.FrameCLen)
	b = binary.BigEndian.AppendUint32(b, l.FrameULen)
	b = binary.BigEndian.AppendUint32(b, l.Offset)
	return binary.BigEndian.AppendUint32(b, l.Length)
}

func decodeLocation(packID, b []byte) (Location, error) {
	var l Location
	if len(b) != locSize || len(packID) != pack.IDSize {
		return l, fmt.Errorf("%w: local index entry of %d bytes", pack.ErrCorrupt, len(b))
	}
	copy(l.Pack[:], packID)
	l.FrameOffset = int64(binary.BigEndian.Uint64(b))
	l.FrameCLen = binary.BigEndian.Uint32(b[8:])
	l.FrameULen = binary.BigEndian.Uint32(b[12:])
	l.Offset = binary.BigEndian.Uint32(b[16:])
	l.Length = binary.BigEndian.Uint32(b[20:])
	return l, nil
}
