package chunkstore

import (
	"github.com/nardedup/nardedup/chunkstore/pack"
)

// IDSize is the length of an ID in bytes.
const IDSize = pack.IDSize

// Bounds of the pack format (see package pack).
const (
	// MaxChunkSize bounds a chunk's length; larger declared lengths are corrupt.
	MaxChunkSize = pack.MaxChunkSize
	// MaxFrameSize bounds a frame's decompressed length.
	MaxFrameSize = pack.MaxFrameSize
)

// ErrCorrupt is wrapped by every error about damaged repository data.
var ErrCorrupt = pack.ErrCorrupt

// ID names a chunk (or a pack) by the BLAKE3 hash of its bytes.
type ID = pack.ID

// Sum returns the ID of data.
func Sum(data []byte) ID { return pack.Sum(data) }

// ParseID parses a hex id as written by ID.String.
func ParseID(s string) (ID, error) { return pack.ParseID(s) }

// Ref is one chunk of a stream: its id and length.
type Ref struct {
	ID   ID
	Size uint32
}
