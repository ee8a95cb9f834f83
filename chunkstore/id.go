package chunkstore

import (
	"encoding/hex"
	"fmt"

	"github.com/zeebo/blake3"
)

// IDSize is the length of an ID in bytes.
const IDSize = 32

// ID names a chunk (or a pack) by the BLAKE3 hash of its bytes.
type ID [IDSize]byte

// Sum returns the ID of data.
func Sum(data []byte) ID { return ID(blake3.Sum256(data)) }

// String returns the id in lower-case hex.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// ParseID parses a hex id as written by String.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 2*IDSize {
		return id, fmt.Errorf("chunkstore: invalid id %q: length %d", s, len(s))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("chunkstore: invalid id %q: %w", s, err)
	}
	return id, nil
}

// Ref is one chunk of a stream: its id and length.
type Ref struct {
	ID   ID
	Size uint32
}
