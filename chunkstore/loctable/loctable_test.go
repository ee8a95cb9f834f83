package loctable_test

import (
	"errors"
	"testing"

	"github.com/nardedup/nardedup/chunkstore/index"
	"github.com/nardedup/nardedup/chunkstore/loctable"
	"github.com/nardedup/nardedup/chunkstore/pack"
)

func loc(p byte, frame int64, off, length uint32) index.Location {
	return index.Location{Pack: pack.ID{p}, FrameOffset: frame, FrameCLen: 500, FrameULen: 1000,
		Offset: off, Length: length}
}

func TestRoundTrip(t *testing.T) {
	sections := [][]index.Location{
		{loc(1, 0, 0, 100), loc(1, 0, 100, 50), loc(1, 0, 150, 10), loc(2, 600, 0, 30)},
		{},
		{loc(2, 600, 30, 40), loc(2, 600, 500, 5), loc(1, 0, 0, 100), loc(3, 0, 999, 1)},
	}
	b := loctable.NewBuilder(len(sections))
	for s, locs := range sections {
		for _, l := range locs {
			b.Add(s, l)
		}
	}
	enc := b.Encode()
	tab, err := loctable.Decode(enc, len(sections))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(tab.Packs()); got != 3 {
		t.Errorf("%d packs, want 3", got)
	}
	for s, locs := range sections {
		if tab.Len(s) != uint64(len(locs)) {
			t.Errorf("section %d: Len %d, want %d", s, tab.Len(s), len(locs))
		}
		c := tab.Cursor(s)
		for i, want := range locs {
			got, err := c.Next(want.Length)
			if err != nil {
				t.Fatalf("section %d chunk %d: %v", s, i, err)
			}
			if got != want {
				t.Errorf("section %d chunk %d: got %+v, want %+v", s, i, got, want)
			}
		}
		if err := c.Done(); err != nil {
			t.Errorf("section %d: Done: %v", s, err)
		}
		if _, err := c.Next(1); !errors.Is(err, loctable.ErrCorrupt) {
			t.Errorf("section %d: Next past the end: %v", s, err)
		}
	}
}

// TestRuns checks that chunks lying one after another in a frame share a
// run: the table of a long stream in few frames stays small.
func TestRuns(t *testing.T) {
	b := loctable.NewBuilder(1)
	for f := range 4 {
		for i := range 1000 {
			b.Add(0, loc(1, int64(f)*500, uint32(i), 1))
		}
	}
	if n := len(b.Encode()); n > 33+1+4*10 {
		t.Errorf("4000 chunks in 4 frames encode as %d bytes", n)
	}
}

func TestCorrupt(t *testing.T) {
	b := loctable.NewBuilder(2)
	b.Add(0, loc(1, 0, 0, 10))
	b.Add(1, loc(2, 0, 0, 10))
	good := b.Encode()
	cases := map[string][]byte{
		"empty":         {},
		"truncated":     good[:len(good)-1],
		"trailing":      append(append([]byte(nil), good...), 0),
		"packs overrun": {200, 1},
		"bad pack":      append(append([]byte{1}, make([]byte, 32)...), 1, 5, 0, 1, 1, 0, 1, 0),
		"empty run":     append(append([]byte{1}, make([]byte, 32)...), 1, 0, 0, 1, 1, 0, 0, 0),
		"zero frame":    append(append([]byte{1}, make([]byte, 32)...), 1, 0, 0, 0, 0, 0, 1, 0),
		"offset beyond": append(append([]byte{1}, make([]byte, 32)...), 1, 0, 0, 1, 1, 1, 1, 0),
	}
	for name, enc := range cases {
		if _, err := loctable.Decode(enc, 2); !errors.Is(err, loctable.ErrCorrupt) {
			t.Errorf("%s: got %v, want ErrCorrupt", name, err)
		}
	}
	tab, err := loctable.Decode(good, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tab.Cursor(0).Next(1001); !errors.Is(err, loctable.ErrCorrupt) {
		t.Errorf("chunk longer than its frame: %v", err)
	}
	if err := tab.Cursor(0).Done(); !errors.Is(err, loctable.ErrCorrupt) {
		t.Errorf("Done before the end: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	b := loctable.NewBuilder(3)
	b.Add(0, loc(1, 0, 0, 10))
	b.Add(2, loc(1, 0, 10, 10))
	b.Add(2, loc(2, 7, 3, 10))
	f.Add(b.Encode(), uint32(10))
	f.Add([]byte{0, 0, 0, 0}, uint32(1))
	f.Fuzz(func(t *testing.T, data []byte, size uint32) {
		tab, err := loctable.Decode(data, 3)
		if err != nil {
			if !errors.Is(err, loctable.ErrCorrupt) {
				t.Fatalf("Decode: %v, want ErrCorrupt", err)
			}
			return
		}
		size = size%(1<<20) + 1
		for s := range 3 {
			c := tab.Cursor(s)
			for range min(tab.Len(s), 1<<16) {
				l, err := c.Next(size)
				if err != nil {
					if !errors.Is(err, loctable.ErrCorrupt) {
						t.Fatalf("Next: %v", err)
					}
					break
				}
				if uint64(l.Offset)+uint64(l.Length) > uint64(l.FrameULen) {
					t.Fatalf("location %+v beyond its frame", l)
				}
			}
		}
	})
}
