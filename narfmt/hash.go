package narfmt

import (
	"fmt"

	"github.com/nardedup/nardedup/narfmt/nixbase32"
)

// Hash is the SHA-256 digest of a NAR, its NarHash: it names the NAR in a
// binary cache (nar/<nixbase32>.nar) and in a repository (its manifest).
type Hash [32]byte

// String returns the digest in Nix's base-32, as narinfo URLs and
// repository keys spell it.
func (h Hash) String() string { return nixbase32.EncodeToString(h[:]) }

// ParseHash parses a NAR hash spelled as String spells it.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != nixbase32.EncodedLen(len(h)) {
		return h, fmt.Errorf("narfmt: NAR hash %q: want %d base-32 characters", s, nixbase32.EncodedLen(len(h)))
	}
	if _, err := nixbase32.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("narfmt: NAR hash %q: %w", s, err)
	}
	return h, nil
}
