package pack

import (
	"crypto/rand"
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

// NewID names a new pack: the BLAKE3 of its bytes and of a random nonce.
// No two stores of a pack share a key, even of the same frames: garbage
// collection deletes packs by id, and a pack stored anew must not be
// mistaken for the condemned one it repeats.
func NewID(data []byte) ID {
	var nonce [16]byte
	rand.Read(nonce[:])
	h := blake3.New()
	h.Write(data)
	h.Write(nonce[:])
	var id ID
	h.Sum(id[:0])
	return id
}
