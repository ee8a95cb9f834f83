package pathstrip_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/pathstrip"
)

func TestRestoreCorrupt(t *testing.T) {
	opt := pathstrip.Options{Mode: pathstrip.CutHashName}
	good := stripPieces(t, []byte("ab"+sp(hashA, "x")+"cd"+sp(hashB, "")+"ef"), opt, nil)
	pa, pb := sp(hashA, "x"), sp(hashB, "")
	cases := []struct {
		name      string
		residue   string
		positions []byte
		paths     []string
	}{
		{"residue short", "abcdef"[:5], good.positions, good.paths},
		{"residue long", "abcdefg", good.positions, good.paths},
		{"residue empty", "", good.positions, good.paths},
		{"positions truncated", "abcdef", good.positions[:len(good.positions)-1], good.paths},
		{"positions empty", "abcdef", nil, good.paths},
		{"positions trailing", "abcdef", append(append([]byte{}, good.positions...), 0), good.paths},
		{"index out of range", "abcdef", []byte{2, 1, 2, 3, 2, 0}, []string{pa}},
		{"index skips ahead", "abcdef", []byte{2, 2, 2, 1, 2, 0}, good.paths},
		{"path unused", "abcdef", []byte{2, 1, 4, 0}, good.paths},
		{"position past end", "abcdef", []byte{9, 1, 2, 2, 2, 0}, good.paths},
		{"non-canonical uvarint", "abcdef", []byte{0x82, 0x00, 1, 2, 2, 2, 0}, good.paths},
		{"uvarint overflow", "abcdef", bytes.Repeat([]byte{0xff}, 11), good.paths},
		{"bad path", "abcdef", good.positions, []string{pa, "/nix/store/x"}},
		{"duplicate path", "abcdef", []byte{2, 1, 2, 2, 2, 0}, []string{pa, pa}},
		{"name in hash mode", "abcdef", good.positions, []string{pa, pb + "-"}},
		{"wrong store dir", "abcdef", good.positions, []string{strings.Replace(pa, "nix", "gnu", 1), pb}},
	}
	for _, c := range cases {
		st := stripped{[]byte(c.residue), c.positions, c.paths, 0}
		got, err := restore(st, opt, nil)
		if !errors.Is(err, pathstrip.ErrCorrupt) {
			t.Errorf("%s: got %q, %v; want ErrCorrupt", c.name, got, err)
		}
	}
	got, err := restore(good, opt, nil)
	if err != nil || string(got) != "ab"+pa+"cd"+pb+"ef" {
		t.Fatalf("good: got %q, %v; want the original", got, err)
	}
}

func TestPathsEncoding(t *testing.T) {
	for _, list := range [][]string{nil, {sp(hashA, "")}, {sp(hashA, "a"), sp(hashB, strings.Repeat("b", 211))}} {
		got, err := pathstrip.DecodePaths(pathstrip.EncodePaths(list), 0)
		if err != nil || strings.Join(got, "\n") != strings.Join(list, "\n") {
			t.Fatalf("got %q, %v; want %q, nil", got, err, list)
		}
	}
	enc := pathstrip.EncodePaths([]string{"a", "b", "c"})
	bad := map[string][]byte{
		"empty":         nil,
		"truncated":     enc[:len(enc)-1],
		"trailing":      append(append([]byte{}, enc...), 0),
		"zero len":      {1, 0},
		"huge len":      {1, 0xff, 0xff, 0x03, 'a'},
		"huge count":    {0xff, 0xff, 0xff, 0xff, 0x0f},
		"non-canonical": {0x81, 0x00, 1, 'a'},
	}
	for name, b := range bad {
		if _, err := pathstrip.DecodePaths(b, 0); !errors.Is(err, pathstrip.ErrCorrupt) && !errors.Is(err, pathstrip.ErrTooManyPaths) {
			t.Errorf("%s: got %v; want ErrCorrupt", name, err)
		}
	}
	if _, err := pathstrip.DecodePaths(enc, 2); !errors.Is(err, pathstrip.ErrTooManyPaths) {
		t.Fatalf("max: got %v; want ErrTooManyPaths", err)
	}
}

func TestWriteAfterClose(t *testing.T) {
	var res, pos bytes.Buffer
	s := pathstrip.NewStripper(&res, &pos, pathstrip.Options{})
	if err := s.Close(); err != nil {
		t.Fatalf("Close: got %v; want nil", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: got %v; want nil", err)
	}
	if _, err := s.Write([]byte("x")); !errors.Is(err, pathstrip.ErrClosed) {
		t.Fatalf("Write: got %v; want ErrClosed", err)
	}
	if got := pos.Bytes(); !bytes.Equal(got, []byte{0, 0}) {
		t.Fatalf("empty positions: got %x; want 0000", got)
	}
}

type failWriter struct{ after int }

var errFail = errors.New("write failed")

func (w *failWriter) Write(p []byte) (int, error) {
	if w.after < len(p) {
		return 0, errFail
	}
	w.after -= len(p)
	return len(p), nil
}

func TestWriterErrors(t *testing.T) {
	in := []byte("abc" + sp(hashA, "x") + "def")
	s := pathstrip.NewStripper(&failWriter{after: 2}, &bytes.Buffer{}, pathstrip.Options{})
	if _, err := s.Write(in); !errors.Is(err, errFail) {
		t.Fatalf("residue: got %v; want %v", err, errFail)
	}
	if err := s.Close(); !errors.Is(err, errFail) {
		t.Fatalf("Close after failure: got %v; want %v", err, errFail)
	}
	s = pathstrip.NewStripper(&bytes.Buffer{}, &failWriter{}, pathstrip.Options{})
	if _, err := s.Write(in); err != nil {
		t.Fatalf("Write: got %v; want nil", err)
	}
	if err := s.Close(); !errors.Is(err, errFail) {
		t.Fatalf("positions: got %v; want %v", err, errFail)
	}
}
