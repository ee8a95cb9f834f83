package decompress_test

import (
	"context"
	"io"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/nardedup/nardedup/internal/decompress"
	"github.com/nardedup/nardedup/internal/nixtest"
	"github.com/nardedup/nardedup/source"
)

// TestCorpus decompresses every NAR of the shared small corpus with every
// xz decoder and checks its size against the narinfo's NarSize.
func TestCorpus(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	src, err := source.Open("file://" + filepath.Join(nixtest.Corpus(t, "small", 3), "bucket"))
	if err != nil {
		t.Fatal(err)
	}
	decoders := []decompress.XZDecoder{decompress.GoXZ()}
	if _, err := exec.LookPath("xz"); err == nil {
		decoders = append(decoders, decompress.ExecXZ(xzPath()))
	}
	if d, ok := decompress.LibXZ(); ok {
		decoders = append(decoders, d)
	}
	ctx := context.Background()
	n := 0
	err = src.List(ctx, func(hash string) error {
		n++
		ni, err := src.NarInfo(ctx, hash)
		if err != nil {
			return err
		}
		want, err := strconv.ParseInt(nixtest.Field(ni, "NarSize"), 10, 64)
		if err != nil {
			t.Fatalf("%s: NarSize: %v", hash, err)
		}
		for _, dec := range decoders {
			if got := corpusNARSize(t, src, ni, dec); got != want {
				t.Errorf("%s with %v: %d bytes, NarSize %d", hash, dec, got, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("corpus has no narinfos")
	}
}

func corpusNARSize(t *testing.T, src source.Source, narinfo []byte, dec decompress.XZDecoder) int64 {
	t.Helper()
	ctx := context.Background()
	f, err := src.Open(ctx, nixtest.Field(narinfo, "URL"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var d io.ReadCloser
	if c := nixtest.Field(narinfo, "Compression"); c == "xz" {
		d, err = dec.NewReader(ctx, f)
	} else {
		d, err = decompress.NewReader(ctx, f, c)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	n, err := io.Copy(io.Discard, d)
	if err != nil {
		t.Fatalf("%s: %v", nixtest.Field(narinfo, "URL"), err)
	}
	return n
}
