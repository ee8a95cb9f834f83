package pathstrip_test

import (
	"bytes"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/nardedup/nardedup/pathstrip"
)

type cutCase struct {
	name  string
	in    string
	opt   pathstrip.Options
	paths []string // expected distinct cut strings
}

func cutCases() []cutCase {
	hn := pathstrip.Options{Mode: pathstrip.CutHashName}
	h := pathstrip.Options{Mode: pathstrip.CutHash}
	long := strings.Repeat("n", pathstrip.MaxNameLen)
	return []cutCase{
		{"empty", "", hn, nil},
		{"plain", "hello world", hn, nil},
		{"one", "x" + sp(hashA, "bash-5.2") + "/bin/sh\x00", hn, []string{sp(hashA, "bash-5.2")}},
		{"hash mode", "x" + sp(hashA, "bash-5.2") + "/bin", h, []string{sp(hashA, "")}},
		{"31 chars", sp(hashA[:31], "") + "/x", hn, nil},
		{"31 chars at end", sp(hashA[:31], ""), hn, nil},
		{"invalid e", sp(hashA[:20]+"e"+hashA[21:], "foo"), hn, nil},
		{"invalid o t u", sp("o"+hashA[1:], "") + sp("t"+hashA[1:], "") + sp("u"+hashA[1:], ""), hn, nil},
		{"at end", "abc" + sp(hashA, "foo"), hn, []string{sp(hashA, "foo")}},
		{"hash at end", "abc" + sp(hashA, ""), hn, []string{sp(hashA, "")}},
		{"back to back", sp(hashA, "") + sp(hashB, "b") + sp(hashA, ""), hn,
			[]string{sp(hashA, ""), sp(hashB, "b")}},
		{"back to back hash", sp(hashA, "a") + sp(hashB, "b"), h, []string{sp(hashA, ""), sp(hashB, "")}},
		{"repeat", sp(hashA, "a") + ":" + sp(hashB, "b") + ":" + sp(hashA, "a"), hn,
			[]string{sp(hashA, "a"), sp(hashB, "b")}},
		{"store dir prefix of another", "/nix/store2/" + hashA + "-x /nix/store/" + hashB, hn,
			[]string{sp(hashB, "")}},
		{"store dir alone", "/nix/store /nix/store/ /nix/store", hn, nil},
		{"dash no name", sp(hashA, "") + "-/x", hn, []string{sp(hashA, "")}},
		{"dash at end", sp(hashA, "") + "-", hn, []string{sp(hashA, "")}},
		{"name max", sp(hashA, long) + "/x", hn, []string{sp(hashA, long)}},
		{"name max at end", sp(hashA, long), hn, []string{sp(hashA, long)}},
		{"name too long", sp(hashA, long+"n") + "/x", hn, []string{sp(hashA, "")}},
		{"name too long at end", sp(hashA, long+"nn"), hn, []string{sp(hashA, "")}},
		{"name chars", sp(hashA, "a+b-c.d_e?f=g") + "!", hn, []string{sp(hashA, "a+b-c.d_e?f=g")}},
		{"33 hash chars", sp(hashA+"a", ""), h, []string{sp(hashA, "")}},
		{"double prefix", "/nix/store/" + sp(hashA, "x"), hn, []string{sp(hashA, "x")}},
		{"double slash", "/nix/store//" + hashA, hn, nil},
		{"custom store dir", "/gnu/store/" + hashA + "-guile /nix/store/" + hashB,
			pathstrip.Options{StoreDir: "/gnu/store", Mode: pathstrip.CutHashName},
			[]string{"/gnu/store/" + hashA + "-guile"}},
		{"store dir with slash", "/s/" + hashA, pathstrip.Options{StoreDir: "/s/"}, []string{"/s/" + hashA}},
		{"self overlapping store dir", "aaa/" + hashA, pathstrip.Options{StoreDir: "aa"}, []string{"aa/" + hashA}},
	}
}

func TestCutCases(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range cutCases() {
		t.Run(c.name, func(t *testing.T) {
			for range 20 {
				st := checkRoundTrip(t, []byte(c.in), c.opt, rng)
				if strings.Join(st.paths, "\n") != strings.Join(c.paths, "\n") {
					t.Fatalf("paths: got %q; want %q", st.paths, c.paths)
				}
				for _, p := range c.paths {
					if bytes.Contains(st.residue, []byte(p)) {
						t.Fatalf("residue %q still contains %q", st.residue, p)
					}
				}
			}
		})
	}
}

// TestEveryWriteSplit strips each case with one split at every offset.
func TestEveryWriteSplit(t *testing.T) {
	for _, c := range cutCases() {
		want := stripPieces(t, []byte(c.in), c.opt, nil)
		for i := 0; i <= len(c.in); i++ {
			var res, pos bytes.Buffer
			s := pathstrip.NewStripper(&res, &pos, c.opt)
			_, err1 := s.Write([]byte(c.in[:i]))
			_, err2 := s.Write([]byte(c.in[i:]))
			if err := s.Close(); err1 != nil || err2 != nil || err != nil {
				t.Fatalf("%s split %d: got %v %v %v; want nil", c.name, i, err1, err2, err)
			}
			if !bytes.Equal(res.Bytes(), want.residue) || !bytes.Equal(pos.Bytes(), want.positions) {
				t.Fatalf("%s split %d: got %q %x; want %q %x", c.name, i, res.Bytes(), pos.Bytes(), want.residue, want.positions)
			}
		}
	}
}

func TestIOTestReaders(t *testing.T) {
	x := []byte(strings.Repeat("lib "+sp(hashA, "glibc-2.36")+"/lib\x00"+sp(hashB, "z")+"\n", 50))
	opt := pathstrip.Options{Mode: pathstrip.CutHashName}
	st := stripPieces(t, x, opt, nil)
	wraps := map[string]func(io.Reader) io.Reader{
		"OneByte": iotest.OneByteReader, "Half": iotest.HalfReader, "DataErr": iotest.DataErrReader,
	}
	for name, w := range wraps {
		got, err := restore(st, opt, w)
		if err != nil || !bytes.Equal(got, x) {
			t.Fatalf("%s: got %d bytes, %v; want %d bytes, nil", name, len(got), err, len(x))
		}
	}
	// Underlying readers wrapped too.
	for name, w := range wraps {
		r := pathstrip.NewRestorer(w(bytes.NewReader(st.residue)), w(bytes.NewReader(st.positions)), st.paths, opt)
		if err := iotest.TestReader(r, x); err != nil {
			t.Fatalf("%s inside: got %v; want nil", name, err)
		}
	}
}

func TestRandomDense(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, mode := range []pathstrip.Mode{pathstrip.CutHash, pathstrip.CutHashName} {
		for range 200 {
			x := randomInput(rng, 1+rng.IntN(3000))
			checkRoundTrip(t, x, pathstrip.Options{Mode: mode}, rng)
		}
	}
}

// randomInput builds bytes dense in store paths, prefixes of them, and
// near misses.
func randomInput(rng *rand.Rand, n int) []byte {
	parts := []string{"/nix/store/", "/nix/store", "/nix/", "-", "foo-1.2", "\x00", "/", "e", "abc",
		hashA, hashB, hashA[:31], sp(hashA, "x"), sp(hashC, strings.Repeat("q", 211)), strings.Repeat("r", 50)}
	var b []byte
	for len(b) < n {
		b = append(b, parts[rng.IntN(len(parts))]...)
	}
	return b
}
