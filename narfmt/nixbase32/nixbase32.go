package nixbase32

import (
	"fmt"
	"strconv"
)

// Alphabet is Nix's base-32 alphabet: digits and lower-case letters except
// e, o, t and u.
const Alphabet = "0123456789abcdfghijklmnpqrsvwxyz"

// decodeMap maps a character to its digit value, or 0xff if invalid.
var decodeMap = func() [256]byte {
	var m [256]byte
	for i := range m {
		m[i] = 0xff
	}
	for i := 0; i < len(Alphabet); i++ {
		m[Alphabet[i]] = byte(i)
	}
	return m
}()

// CorruptInputError reports the offset of invalid input, as in
// encoding/base32.
type CorruptInputError int64

func (e CorruptInputError) Error() string {
	return "illegal nixbase32 data at input byte " + strconv.FormatInt(int64(e), 10)
}

// EncodedLen returns the length in characters of the encoding of n bytes.
func EncodedLen(n int) int {
	if n <= 0 {
		return 0
	}
	return (n*8-1)/5 + 1
}

// DecodedLen returns the number of bytes encoded by n characters. Only
// lengths that EncodedLen can return are valid encodings; Decode rejects the
// others.
func DecodedLen(n int) int {
	if n <= 0 {
		return 0
	}
	return n * 5 / 8
}

// ValidByte reports whether c is in Alphabet.
func ValidByte(c byte) bool {
	return decodeMap[c] != 0xff
}

// Encode writes the encoding of src to dst, which must hold at least
// EncodedLen(len(src)) bytes.
func Encode(dst, src []byte) {
	n := EncodedLen(len(src))
	_ = dst[:n]
	for k := n - 1; k >= 0; k-- {
		b := uint(k * 5)
		i := b / 8
		j := b % 8
		c := src[i] >> j
		if int(i)+1 < len(src) {
			c |= src[i+1] << (8 - j)
		}
		dst[n-1-k] = Alphabet[c&0x1f]
	}
}

// EncodeToString returns the encoding of src.
func EncodeToString(src []byte) string {
	dst := make([]byte, EncodedLen(len(src)))
	Encode(dst, src)
	return string(dst)
}

// Decode decodes src into dst, which must hold at least
// DecodedLen(len(src)) bytes, and returns the number of bytes written. It
// rejects characters outside Alphabet, lengths no encoding has, and
// encodings whose unused high bits are not zero.
func Decode(dst, src []byte) (int, error) {
	n := DecodedLen(len(src))
	if EncodedLen(n) != len(src) {
		return 0, fmt.Errorf("nixbase32: invalid length %d", len(src))
	}
	dst = dst[:n]
	clear(dst)
	for k := 0; k < len(src); k++ {
		pos := len(src) - 1 - k
		digit := decodeMap[src[pos]]
		if digit == 0xff {
			return 0, CorruptInputError(pos)
		}
		b := uint(k * 5)
		i := b / 8
		j := b % 8
		dst[i] |= digit << j
		carry := digit >> (8 - j)
		if int(i)+1 < n {
			dst[i+1] |= carry
		} else if carry != 0 {
			return 0, CorruptInputError(pos)
		}
	}
	return n, nil
}

// DecodeString returns the bytes encoded by s.
func DecodeString(s string) ([]byte, error) {
	dst := make([]byte, DecodedLen(len(s)))
	n, err := Decode(dst, []byte(s))
	if err != nil {
		return nil, err
	}
	return dst[:n], nil
}
