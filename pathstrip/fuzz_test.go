package pathstrip_test

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/nardedup/nardedup/pathstrip"
)

func FuzzRoundTrip(f *testing.F) {
	for _, c := range cutCases() {
		f.Add([]byte(c.in), uint64(1), false)
	}
	f.Add([]byte(sp(hashA, "a")+sp(hashB, "b")), uint64(7), true)
	f.Fuzz(func(t *testing.T, x []byte, seed uint64, hashOnly bool) {
		opt := pathstrip.Options{Mode: pathstrip.CutHashName}
		if hashOnly {
			opt.Mode = pathstrip.CutHash
		}
		st := checkRoundTrip(t, x, opt, rand.New(rand.NewPCG(seed, seed)))
		if int64(len(st.paths)) > st.cuts {
			t.Fatalf("paths: got %d distinct for %d cuts; want at most the cuts", len(st.paths), st.cuts)
		}
		enc := pathstrip.EncodePaths(st.paths)
		dec, err := pathstrip.DecodePaths(enc, 0)
		if err != nil || len(dec) != len(st.paths) {
			t.Fatalf("DecodePaths: got %q, %v; want %q, nil", dec, err, st.paths)
		}
		// With a small bound the list is the first strings of the unbounded
		// one; the rest stay in the residue and still round-trip.
		opt.MaxPaths = 1 + int(seed%3)
		capped := checkRoundTrip(t, x, opt, rand.New(rand.NewPCG(seed, 1)))
		if want := st.paths[:min(len(st.paths), opt.MaxPaths)]; !slices.Equal(capped.paths, want) {
			t.Fatalf("MaxPaths %d: got paths %q; want %q", opt.MaxPaths, capped.paths, want)
		}
		if capped.cuts > st.cuts || len(st.paths) <= opt.MaxPaths && capped.cuts != st.cuts {
			t.Fatalf("MaxPaths %d: got %d cuts; want %d or fewer when over the bound", opt.MaxPaths, capped.cuts, st.cuts)
		}
	})
}

func FuzzRestore(f *testing.F) {
	st := stripPieces(f, []byte("a"+sp(hashA, "x")+"b"+sp(hashB, "")+"c"+sp(hashA, "x")), pathstrip.Options{Mode: pathstrip.CutHashName}, nil)
	f.Add(st.residue, st.positions, pathstrip.EncodePaths(st.paths), true)
	f.Add([]byte("abc"), []byte{3, 0}, pathstrip.EncodePaths(nil), false)
	f.Add([]byte(""), []byte{0, 1, 0, 0}, pathstrip.EncodePaths([]string{sp(hashA, "")}), false)
	f.Add([]byte("xy"), []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0x01}, []byte{1, 2, 'a', 'b'}, true)
	f.Fuzz(func(t *testing.T, residue, positions, paths []byte, nameMode bool) {
		opt := pathstrip.Options{Mode: pathstrip.CutHash, MaxPaths: 100}
		if nameMode {
			opt.Mode = pathstrip.CutHashName
		}
		list, err := pathstrip.DecodePaths(paths, opt.MaxPaths)
		if err != nil {
			if !errors.Is(err, pathstrip.ErrCorrupt) && !errors.Is(err, pathstrip.ErrTooManyPaths) {
				t.Fatalf("DecodePaths: got %v; want ErrCorrupt or ErrTooManyPaths", err)
			}
			list = nil
		} else if !bytes.Equal(pathstrip.EncodePaths(list), paths) {
			t.Fatalf("EncodePaths(DecodePaths(b)): got %x; want %x", pathstrip.EncodePaths(list), paths)
		}
		r := pathstrip.NewRestorer(bytes.NewReader(residue), bytes.NewReader(positions), list, opt)
		out, err := io.ReadAll(io.LimitReader(r, int64(len(residue))+int64(len(positions))*300+1<<16))
		if err != nil {
			if !errors.Is(err, pathstrip.ErrCorrupt) && !errors.Is(err, pathstrip.ErrTooManyPaths) {
				t.Fatalf("restore: got %v; want ErrCorrupt or ErrTooManyPaths", err)
			}
			return
		}
		// A table that restores must be exactly what the Stripper makes.
		again := stripPieces(t, out, opt, nil)
		if !bytes.Equal(again.residue, residue) || !bytes.Equal(again.positions, positions) {
			t.Logf("non-canonical table accepted: residue %q positions %x paths %q", residue, positions, list)
		}
	})
}
