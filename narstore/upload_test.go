package narstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"strconv"
	"testing"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/mem"
	"github.com/nardedup/nardedup/narfmt"
	"github.com/nardedup/nardedup/narstore"
	"github.com/nardedup/nardedup/repo/layout"
)

func TestPutPushedNAR(t *testing.T) {
	ctx := context.Background()
	be := mem.New()
	s := newStore(t, be)
	nar := makeNAR(t, 7, []string{"x8shz8npxqjcbmnsnh4x5zw2l0d6b4qi"})
	want := narfmt.Hash(sha256.Sum256(nar))
	var gotHash narfmt.Hash
	var gotSize uint64
	res, sum, err := s.PutPushedNAR(ctx, "upload x", bytes.NewReader(nar), func(h narfmt.Hash, size uint64) error {
		gotHash, gotSize = h, size
		return nil
	})
	must(t, err)
	if sum != want || gotHash != want || gotSize != uint64(len(nar)) || res.NarSize != int64(len(nar)) {
		t.Fatalf("PutPushedNAR: hash %s (check saw %s, size %d); want %s, size %d", sum, gotHash, gotSize, want, len(nar))
	}
	// The manifest is durable when PutPushedNAR returns: the NAR reads back.
	rc, _, err := s.Open(ctx, sum)
	must(t, err)
	back, err := io.ReadAll(rc)
	rc.Close()
	must(t, err)
	if !bytes.Equal(back, nar) {
		t.Fatal("pushed NAR reads back different")
	}
	// No narinfo was written.
	n := 0
	must(t, layout.List(ctx, be, layout.NarInfo, func(string, backend.Info) error { n++; return nil }))
	if n != 0 {
		t.Errorf("PutPushedNAR wrote %d narinfos; want none", n)
	}

	// Its narinfo records the NAR under its package name, as an ingest
	// does, so that an ingest deduplicating by name finds it.
	text := []byte("StorePath: /nix/store/x8shz8npxqjcbmnsnh4x5zw2l0d6b4qi-hello-2.12.1\nURL: nar/x.nar\nCompression: none\n" +
		"NarHash: sha256:" + sum.String() + "\nNarSize: " + strconv.Itoa(len(nar)) + "\nReferences: \n")
	must(t, s.PutNarInfo(ctx, "x8shz8npxqjcbmnsnh4x5zw2l0d6b4qi", sum, text))
	if _, err := be.Stat(ctx, layout.NameOf("hello", sum).Key()); err != nil {
		t.Errorf("narinfo of a pushed NAR: no names object: %v", err)
	}

	// A check that refuses leaves no manifest.
	other := makeNAR(t, 8, []string{"x8shz8npxqjcbmnsnh4x5zw2l0d6b4qi"})
	refuse := errors.New("refused")
	_, sum2, err := s.PutPushedNAR(ctx, "upload y", bytes.NewReader(other), func(narfmt.Hash, uint64) error { return refuse })
	if !errors.Is(err, refuse) {
		t.Fatalf("PutPushedNAR with a refusing check: %v; want %v", err, refuse)
	}
	must(t, narstore.Flush(ctx, s))
	if ok, err := s.HasManifest(ctx, sum2); err != nil || ok {
		t.Errorf("refused NAR: HasManifest = %v, %v; want false", ok, err)
	}

	// A NAR cut short is refused.
	if _, _, err := s.PutPushedNAR(ctx, "upload z", bytes.NewReader(other[:len(other)/2]), func(narfmt.Hash, uint64) error { return nil }); err == nil {
		t.Error("PutPushedNAR of a truncated NAR succeeded")
	}
}

func TestUploadRecord(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, mem.New())
	u := narstore.Upload{NarHash: narfmt.Hash{1}, NarSize: 123, FileHash: narfmt.Hash{2}, FileSize: 45}
	const file = "0c2wd7rk.nar.xz"
	if _, err := s.Upload(ctx, file); !errors.Is(err, narstore.ErrNotFound) {
		t.Fatalf("Upload before PutUpload: %v; want ErrNotFound", err)
	}
	must(t, s.PutUpload(ctx, file, u))
	got, err := s.Upload(ctx, file)
	must(t, err)
	if got != u {
		t.Errorf("Upload = %+v; want %+v", got, u)
	}
	must(t, s.DeleteUpload(ctx, file))
	if _, err := s.Upload(ctx, file); !errors.Is(err, narstore.ErrNotFound) {
		t.Errorf("Upload after DeleteUpload: %v; want ErrNotFound", err)
	}
}
