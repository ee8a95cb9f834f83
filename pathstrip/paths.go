package pathstrip

import (
	"encoding/binary"
	"fmt"
)

// EncodePaths encodes the paths part of the side table: a uvarint count, then
// for each string a uvarint length and its bytes.
func EncodePaths(paths []string) []byte {
	n := binary.MaxVarintLen64
	for _, p := range paths {
		n += binary.MaxVarintLen64 + len(p)
	}
	b := make([]byte, 0, n)
	b = binary.AppendUvarint(b, uint64(len(paths)))
	for _, p := range paths {
		b = binary.AppendUvarint(b, uint64(len(p)))
		b = append(b, p...)
	}
	return b
}

// DecodePaths decodes what EncodePaths made. It accepts at most max strings
// (max <= 0 means DefaultMaxPaths), each 1 to MaxPathLen bytes long, and
// rejects trailing bytes and non-canonical encodings. Errors wrap ErrCorrupt
// or ErrTooManyPaths.
func DecodePaths(b []byte, max int) ([]string, error) {
	if max <= 0 {
		max = DefaultMaxPaths
	}
	count, b, err := sliceUvarint(b)
	if err != nil {
		return nil, err
	}
	if count > uint64(max) {
		return nil, fmt.Errorf("%w: %d > %d", ErrTooManyPaths, count, max)
	}
	if count > uint64(len(b)/2) {
		return nil, corrupt("%d paths cannot fit in %d bytes", count, len(b))
	}
	paths := make([]string, 0, count)
	for i := uint64(0); i < count; i++ {
		var n uint64
		n, b, err = sliceUvarint(b)
		if err != nil {
			return nil, err
		}
		if n == 0 || n > MaxPathLen || n > uint64(len(b)) {
			return nil, corrupt("path %d has bad length %d", i, n)
		}
		paths = append(paths, string(b[:n]))
		b = b[n:]
	}
	if len(b) != 0 {
		return nil, corrupt("%d trailing bytes after paths", len(b))
	}
	return paths, nil
}

func sliceUvarint(b []byte) (uint64, []byte, error) {
	x, n := binary.Uvarint(b)
	if n <= 0 || n > 1 && b[n-1] == 0 {
		return 0, nil, corrupt("bad uvarint in paths")
	}
	return x, b[n:], nil
}
