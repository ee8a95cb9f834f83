package lease_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/nardedup/nardedup/chunkstore/lease"
	"github.com/nardedup/nardedup/chunkstore/pack"
)

func TestCondemnedRoundTrip(t *testing.T) {
	c := &lease.Condemned{ID: "abc", Packs: []pack.ID{{1}, {2}}, Objects: []string{"manifests/a", "manifests/b"}}
	got, err := lease.DecodeCondemned(c.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != c.ID || !slices.Equal(got.Packs, c.Packs) || !slices.Equal(got.Objects, c.Objects) {
		t.Fatalf("round trip: %+v", got)
	}
	for _, bad := range [][]byte{nil, []byte("NDGC\x01"), append(c.Encode(), 0), c.Encode()[:20]} {
		if _, err := lease.DecodeCondemned(bad); !errors.Is(err, pack.ErrCorrupt) {
			t.Errorf("DecodeCondemned(%q) = %v, want ErrCorrupt", bad, err)
		}
	}
}

func FuzzDecodeCondemned(f *testing.F) {
	f.Add((&lease.Condemned{ID: "x", Packs: []pack.ID{{9}}, Objects: []string{"manifests/m"}}).Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := lease.DecodeCondemned(b)
		if err != nil {
			return
		}
		again, err := lease.DecodeCondemned(c.Encode())
		if err != nil || again.ID != c.ID || !slices.Equal(again.Packs, c.Packs) || !slices.Equal(again.Objects, c.Objects) {
			t.Fatalf("re-encoding changed the list: %v", err)
		}
	})
}
