package pathstrip_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/narfmt"
	"github.com/nardedup/nardedup/narfmt/nixbase32"
	"github.com/nardedup/nardedup/pathstrip"
)

// nthHash returns a distinct store path hash for every i.
func nthHash(i int) string {
	b := make([]byte, 20)
	for k := 0; k < 8; k++ {
		b[k] = byte(i >> (8 * k))
	}
	return nixbase32.EncodeToString(b)
}

// nthPath returns the i-th store path of manyPathsNAR.
func nthPath(i int) string { return sp(nthHash(i), fmt.Sprintf("pkg-%d", i)) }

// manyPathsNAR returns a NAR holding one file that references n distinct
// store paths in order, then paths 0 to repeats-1 once more.
func manyPathsNAR(t testing.TB, n, repeats int) []byte {
	t.Helper()
	var content bytes.Buffer
	for i := 0; i < n; i++ {
		fmt.Fprintf(&content, "ref %s/bin\n", nthPath(i))
	}
	for i := 0; i < repeats; i++ {
		fmt.Fprintf(&content, "again %s/lib\n", nthPath(i))
	}
	var nar bytes.Buffer
	w := narfmt.NewWriter(&nar)
	for _, h := range []*narfmt.Header{
		{Path: "/", Type: narfmt.TypeDirectory},
		{Path: "/refs", Type: narfmt.TypeRegular, Size: int64(content.Len())},
	} {
		if err := w.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Write(content.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return nar.Bytes()
}

// TestManyPaths strips a NAR with more distinct store paths than
// DefaultMaxPaths: the first DefaultMaxPaths are listed and cut wherever
// they occur, the others stay in the residue, and the NAR round-trips.
func TestManyPaths(t *testing.T) {
	const n, repeats = 70000, 100
	max := pathstrip.DefaultMaxPaths
	nar := manyPathsNAR(t, n, repeats)
	st := checkRoundTrip(t, nar, pathstrip.Options{Mode: pathstrip.DefaultMode}, rand.New(rand.NewPCG(1, 2)))
	if len(st.paths) != max {
		t.Fatalf("got %d paths; want %d", len(st.paths), max)
	}
	for i, p := range st.paths {
		if p != nthPath(i) {
			t.Fatalf("path %d: got %q; want %q", i, p, nthPath(i))
		}
	}
	if want := int64(max + repeats); st.cuts != want {
		t.Errorf("got %d cuts; want %d (the listed paths and their repeats)", st.cuts, want)
	}
	if got, want := bytes.Count(st.residue, []byte("/nix/store/")), n-max; got != want {
		t.Errorf("residue holds %d store paths; want %d (those beyond the list)", got, want)
	}
	for _, i := range []int{max, n - 1} {
		if !bytes.Contains(st.residue, []byte("ref "+nthPath(i)+"/bin\n")) {
			t.Errorf("residue lacks path %d %s", i, nthPath(i))
		}
	}
	if !bytes.Contains(st.residue, []byte("\nagain /lib\n")) {
		t.Error("residue lacks a repeat of an early path with the path cut")
	}
	dec, err := pathstrip.DecodePaths(pathstrip.EncodePaths(st.paths), 0)
	if err != nil || len(dec) != max {
		t.Fatalf("DecodePaths: got %d paths, %v; want %d, nil", len(dec), err, max)
	}
}

// TestMaxPathsBoundary strips at MaxPaths 3: a fourth distinct string and
// any after it stay in the residue wherever they occur, the listed ones are
// still cut.
func TestMaxPathsBoundary(t *testing.T) {
	hn := pathstrip.Options{Mode: pathstrip.CutHashName, MaxPaths: 3}
	h := pathstrip.Options{Mode: pathstrip.CutHash, MaxPaths: 3}
	p := func(i int) string { return sp(nthHash(i), fmt.Sprintf("p%d", i)) }
	long := strings.Repeat("n", pathstrip.MaxNameLen+1)
	cases := []struct {
		name    string
		opt     pathstrip.Options
		in      string
		residue string
		paths   []string
	}{
		{"under", hn, "a" + p(0) + ":" + p(1), "a:", []string{p(0), p(1)}},
		{"exactly", hn, p(0) + p(1) + ":" + p(2) + ":" + p(0), "::", []string{p(0), p(1), p(2)}},
		{"one over", hn, p(0) + p(1) + p(2) + "/" + p(3) + "/",
			"/" + p(3) + "/", []string{p(0), p(1), p(2)}},
		{"over at end", hn, p(0) + p(1) + p(2) + p(3), p(3), []string{p(0), p(1), p(2)}},
		{"over then listed", hn, p(0) + p(1) + p(2) + p(3) + p(1) + " " + p(0),
			p(3) + " ", []string{p(0), p(1), p(2)}},
		{"over twice", hn, p(0) + p(1) + p(2) + p(3) + ":" + p(4) + "/" + p(3),
			p(3) + ":" + p(4) + "/" + p(3), []string{p(0), p(1), p(2)}},
		{"name too long over", hn, p(0) + p(1) + p(2) + sp(nthHash(3), long) + "/" + sp(nthHash(3), ""),
			sp(nthHash(3), long) + "/" + sp(nthHash(3), ""), []string{p(0), p(1), p(2)}},
		{"hash mode, names differ", h, p(0) + p(1) + sp(nthHash(0), "other") + p(2) + p(3) + p(2),
			"-p0-p1-other-p2" + p(3) + "-p2", []string{sp(nthHash(0), ""), sp(nthHash(1), ""), sp(nthHash(2), "")}},
		{"hash mode over", h, p(0) + p(1) + p(2) + p(3) + p(0),
			"-p0-p1-p2" + p(3) + "-p0", []string{sp(nthHash(0), ""), sp(nthHash(1), ""), sp(nthHash(2), "")}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 4))
			for range 20 {
				st := checkRoundTrip(t, []byte(c.in), c.opt, rng)
				if string(st.residue) != c.residue || !slices.Equal(st.paths, c.paths) {
					t.Fatalf("got residue %q, paths %q; want %q, %q", st.residue, st.paths, c.residue, c.paths)
				}
			}
		})
	}
}

// TestRestoreTooManyPaths checks that the Restorer refuses a paths list
// longer than MaxPaths, which no Stripper makes.
func TestRestoreTooManyPaths(t *testing.T) {
	opt := pathstrip.Options{Mode: pathstrip.CutHash, MaxPaths: 2}
	r := pathstrip.NewRestorer(bytes.NewReader(nil), bytes.NewReader([]byte{0, 0}),
		[]string{sp(hashA, ""), sp(hashB, ""), sp(hashC, "")}, opt)
	if _, err := r.Read(make([]byte, 8)); !errors.Is(err, pathstrip.ErrTooManyPaths) {
		t.Fatalf("got %v; want ErrTooManyPaths", err)
	}
}
