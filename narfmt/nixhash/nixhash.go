package nixhash

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"strings"

	"github.com/nardedup/nardedup/narfmt/nixbase32"
)

// Algo names a hash algorithm as Nix spells it.
type Algo string

// The hash algorithms Nix knows.
const (
	MD5    Algo = "md5"
	SHA1   Algo = "sha1"
	SHA256 Algo = "sha256"
	SHA512 Algo = "sha512"
)

// Size returns the digest size of a in bytes, or 0 if Nix does not know a.
func (a Algo) Size() int {
	switch a {
	case MD5:
		return md5.Size
	case SHA1:
		return sha1.Size
	case SHA256:
		return sha256.Size
	case SHA512:
		return sha512.Size
	}
	return 0
}

// Valid reports whether a is one of the algorithms Nix knows.
func (a Algo) Valid() bool { return a.Size() != 0 }

// ParseAlgo checks that s names an algorithm Nix knows. Like Nix, it is
// case sensitive.
func ParseAlgo(s string) (Algo, error) {
	if a := Algo(s); a.Valid() {
		return a, nil
	}
	return "", fmt.Errorf("nixhash: unknown hash algorithm %q", s)
}

// New returns a new hash.Hash computing algo.
func New(algo Algo) (hash.Hash, error) {
	switch algo {
	case MD5:
		return md5.New(), nil
	case SHA1:
		return sha1.New(), nil
	case SHA256:
		return sha256.New(), nil
	case SHA512:
		return sha512.New(), nil
	}
	return nil, fmt.Errorf("nixhash: unknown hash algorithm %q", string(algo))
}

// Hash is a digest together with the algorithm that made it.
type Hash struct {
	Algo   Algo
	Digest []byte
}

// Sum returns the hash of data with algo.
func Sum(algo Algo, data []byte) (Hash, error) {
	h, err := New(algo)
	if err != nil {
		return Hash{}, err
	}
	h.Write(data)
	return Hash{Algo: algo, Digest: h.Sum(nil)}, nil
}

// FromHash returns the digest accumulated so far in h, which must compute
// algo.
func FromHash(algo Algo, h hash.Hash) Hash {
	return Hash{Algo: algo, Digest: h.Sum(nil)}
}

// String returns "<algo>:<nixbase32 digest>", the form narinfo files use.
func (h Hash) String() string {
	return string(h.Algo) + ":" + h.Base32()
}

// SRI returns the SRI form "<algo>-<base64 digest>".
func (h Hash) SRI() string {
	return string(h.Algo) + "-" + h.Base64()
}

// Hex returns the digest in lower-case hexadecimal, without the algorithm.
func (h Hash) Hex() string { return hex.EncodeToString(h.Digest) }

// Base32 returns the digest in Nix base-32, without the algorithm.
func (h Hash) Base32() string { return nixbase32.EncodeToString(h.Digest) }

// Base64 returns the digest in padded standard base-64, without the
// algorithm.
func (h Hash) Base64() string { return base64.StdEncoding.EncodeToString(h.Digest) }

// Equal reports whether h and o have the same algorithm and digest.
func (h Hash) Equal(o Hash) bool {
	return h.Algo == o.Algo && bytes.Equal(h.Digest, o.Digest)
}

// IsZero reports whether h is the zero Hash.
func (h Hash) IsZero() bool { return h.Algo == "" && h.Digest == nil }

// Parse parses a hash in any prefixed form Nix accepts: "<algo>:<digest>"
// with the digest in Nix base-32, hexadecimal (either case) or base-64, or
// the SRI form "<algo>-<base64>".
func Parse(s string) (Hash, error) {
	if i := strings.IndexByte(s, ':'); i >= 0 {
		algo, err := ParseAlgo(s[:i])
		if err != nil {
			return Hash{}, fmt.Errorf("nixhash: hash %q: %w", s, err)
		}
		return parseDigest(algo, s[i+1:], false)
	}
	if i := strings.IndexByte(s, '-'); i >= 0 {
		algo, err := ParseAlgo(s[:i])
		if err != nil {
			return Hash{}, fmt.Errorf("nixhash: hash %q: %w", s, err)
		}
		return parseDigest(algo, s[i+1:], true)
	}
	return Hash{}, fmt.Errorf("nixhash: hash %q does not include a type", s)
}

// ParseWithAlgo parses a digest without an algorithm prefix, as Nix does
// when the algorithm is known from elsewhere. A prefixed s is accepted too
// if its algorithm is algo.
func ParseWithAlgo(algo Algo, s string) (Hash, error) {
	if !algo.Valid() {
		return Hash{}, fmt.Errorf("nixhash: unknown hash algorithm %q", string(algo))
	}
	if strings.IndexByte(s, ':') >= 0 || strings.HasPrefix(s, string(algo)+"-") {
		h, err := Parse(s)
		if err == nil && h.Algo != algo {
			return Hash{}, fmt.Errorf("nixhash: hash %q should have type %q", s, string(algo))
		}
		return h, err
	}
	return parseDigest(algo, s, false)
}

func parseDigest(algo Algo, rest string, sri bool) (Hash, error) {
	size := algo.Size()
	var (
		d   []byte
		err error
	)
	switch {
	case !sri && len(rest) == hex.EncodedLen(size):
		d, err = hex.DecodeString(rest)
	case !sri && len(rest) == nixbase32.EncodedLen(size):
		d, err = nixbase32.DecodeString(rest)
	case sri || len(rest) == base64.StdEncoding.EncodedLen(size):
		d, err = decodeBase64(rest)
		if err == nil && len(d) != size {
			err = fmt.Errorf("decodes to %d bytes, want %d", len(d), size)
		}
	default:
		return Hash{}, fmt.Errorf("nixhash: hash %q has wrong length for hash type %q", rest, string(algo))
	}
	if err != nil {
		return Hash{}, fmt.Errorf("nixhash: invalid %s hash %q: %v", algo, rest, err)
	}
	return Hash{Algo: algo, Digest: d}, nil
}

// decodeBase64 decodes standard base-64 with or without padding. Like Nix
// it does not insist that the unused low bits of the last digit are zero.
func decodeBase64(s string) ([]byte, error) {
	for range 2 {
		s, _ = strings.CutSuffix(s, "=")
	}
	if strings.ContainsAny(s, "\r\n") {
		return nil, fmt.Errorf("line break in base-64")
	}
	return base64.RawStdEncoding.DecodeString(s)
}
