package pathstrip_test

import (
	"bytes"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/pathstrip"
)

const (
	hashA = "0123456789abcdfghijklmnpqrsvwxyz"
	hashB = "zyxwvsrqpnmlkjihgfdcba9876543210"
	hashC = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
)

// stripped is the output of one strip.
type stripped struct {
	residue, positions []byte
	paths              []string
	cuts               int64
}

// stripPieces strips x, writing it in pieces of random size from rng (or in
// one piece when rng is nil).
func stripPieces(t testing.TB, x []byte, opt pathstrip.Options, rng *rand.Rand) stripped {
	t.Helper()
	var res, pos bytes.Buffer
	s := pathstrip.NewStripper(&res, &pos, opt)
	for len(x) > 0 {
		n := len(x)
		if rng != nil {
			n = min(n, 1+rng.IntN(2*rng.IntN(300)+1))
		}
		w, err := s.Write(x[:n])
		if err != nil || w != n {
			t.Fatalf("Write = %d, %v; want %d, nil", w, err, n)
		}
		x = x[n:]
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: got %v; want nil", err)
	}
	return stripped{res.Bytes(), pos.Bytes(), s.Paths(), s.Cuts()}
}

func restore(st stripped, opt pathstrip.Options, wrap func(io.Reader) io.Reader) ([]byte, error) {
	r := pathstrip.NewRestorer(bytes.NewReader(st.residue), bytes.NewReader(st.positions), st.paths, opt)
	if wrap != nil {
		r = wrap(r)
	}
	return io.ReadAll(r)
}

// checkRoundTrip strips x in one piece and in random pieces, requires both
// to agree, and restores with and without iotest wrappers.
func checkRoundTrip(t testing.TB, x []byte, opt pathstrip.Options, rng *rand.Rand) stripped {
	t.Helper()
	one := stripPieces(t, x, opt, nil)
	if rng != nil {
		many := stripPieces(t, x, opt, rng)
		if !bytes.Equal(one.residue, many.residue) || !bytes.Equal(one.positions, many.positions) ||
			strings.Join(one.paths, "\n") != strings.Join(many.paths, "\n") {
			t.Fatalf("pieces: got %q %x %q; want %q %x %q",
				many.residue, many.positions, many.paths, one.residue, one.positions, one.paths)
		}
	}
	got, err := restore(one, opt, nil)
	if err != nil || !bytes.Equal(got, x) {
		t.Fatalf("restore: got %q, %v; want %q, nil", got, err, x)
	}
	return one
}

// sp returns a store path with the default store dir.
func sp(hash, name string) string {
	if name == "" {
		return "/nix/store/" + hash
	}
	return "/nix/store/" + hash + "-" + name
}
