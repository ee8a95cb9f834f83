package decompress_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/nardedup/nardedup/internal/decompress"
	"github.com/ulikunitz/xz"
)

// FuzzXZ feeds arbitrary input to the liblzma decoder and, where both
// succeed, compares its output with the pure Go decoder's. Neither may
// hang, and liblzma's wrapper must end every stream with io.EOF or an
// error.
func FuzzXZ(f *testing.F) {
	lib, ok := decompress.LibXZ()
	if !ok {
		f.Skip("liblzma cannot be loaded")
	}
	for _, s := range []string{"", "a", "nix-archive-1 (type regular contents hello)", string(bytes.Repeat([]byte("abc"), 5000))} {
		var b bytes.Buffer
		w, err := xz.NewWriter(&b)
		if err != nil {
			f.Fatal(err)
		}
		io.WriteString(w, s)
		w.Close()
		f.Add(b.Bytes())
		f.Add(append(bytes.Clone(b.Bytes()), b.Bytes()...)) // two streams
		f.Add(b.Bytes()[:b.Len()/2])
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		const most = 1 << 20 // read no further: a small input can claim a lot
		rc, err := lib.NewReader(context.Background(), bytes.NewReader(in))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(io.LimitReader(rc, most))
		rc.Close()
		if err != nil || len(got) == most {
			return
		}
		want, gerr := decompress.GoXZ().NewReader(context.Background(), bytes.NewReader(in))
		if gerr != nil {
			return
		}
		exp, gerr := io.ReadAll(io.LimitReader(want, most))
		want.Close()
		if gerr == nil && !bytes.Equal(got, exp) {
			t.Errorf("liblzma decoded %d bytes, the Go decoder %d, and they differ", len(got), len(exp))
		}
	})
}
