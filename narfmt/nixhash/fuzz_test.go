package nixhash_test

import (
	"testing"

	"github.com/nardedup/nardedup/narfmt/nixhash"
)

func FuzzParseHash(f *testing.F) {
	for _, v := range vectors {
		f.Add(string(v.algo) + ":" + v.b32)
		f.Add(string(v.algo) + ":" + v.hex)
		f.Add(string(v.algo) + ":" + v.b64)
		f.Add(v.sri)
	}
	f.Add("sha256-")
	f.Add(":")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := nixhash.Parse(s)
		if err != nil {
			return
		}
		if len(h.Digest) != h.Algo.Size() {
			t.Fatalf("Parse(%q): digest of %d bytes; want %d", s, len(h.Digest), h.Algo.Size())
		}
		for _, form := range []string{h.String(), h.SRI(), string(h.Algo) + ":" + h.Hex(), string(h.Algo) + ":" + h.Base64()} {
			g, err := nixhash.Parse(form)
			if err != nil || !g.Equal(h) {
				t.Fatalf("Parse(%q) = %v, %v; want %v", form, g, err, h)
			}
		}
	})
}
