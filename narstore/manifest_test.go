package narstore_test

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/narstore"
)

func sampleManifest() *narstore.Manifest {
	return &narstore.Manifest{
		NarHash: [32]byte{1, 2, 3}, NarSize: 1 << 20, ResidueSize: 1<<20 - 500, PositionsSize: 30,
		Recipe:    []chunkstore.Ref{{ID: chunkstore.Sum([]byte("r")), Size: 700}},
		Positions: []chunkstore.Ref{{ID: chunkstore.Sum([]byte("p")), Size: 30}},
		Paths:     []string{"/nix/store/00000000000000000000000000000000-a", "/nix/store/11111111111111111111111111111111-b"},
	}
}

func TestManifestRoundTrip(t *testing.T) {
	m := sampleManifest()
	enc := m.Encode()
	got, err := narstore.DecodeManifest(enc, 100)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, m) {
		t.Fatalf("got %+v; want %+v", got, m)
	}
	for i := range enc {
		if _, err := narstore.DecodeManifest(enc[:i], 100); err == nil {
			t.Fatalf("manifest cut at %d of %d bytes: accepted", i, len(enc))
		}
	}
	if _, err := narstore.DecodeManifest(append(enc, 0), 100); err == nil {
		t.Fatal("manifest with a trailing byte: accepted")
	}
	if _, err := narstore.DecodeManifest(enc, 1); err == nil {
		t.Fatal("manifest with more paths than allowed: accepted")
	}
}

func FuzzDecodeManifest(f *testing.F) {
	f.Add(sampleManifest().Encode())
	f.Add((&narstore.Manifest{}).Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := narstore.DecodeManifest(b, 1000)
		if err != nil {
			return
		}
		again, err := narstore.DecodeManifest(m.Encode(), 1000)
		if err != nil || !bytes.Equal(again.Encode(), m.Encode()) {
			t.Fatalf("decoded manifest does not re-encode the same: %v", err)
		}
	})
}
