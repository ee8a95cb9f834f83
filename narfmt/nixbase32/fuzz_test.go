package nixbase32_test

import (
	"bytes"
	"testing"

	"github.com/nardedup/nardedup/narfmt/nixbase32"
)

func FuzzDecode(f *testing.F) {
	for _, v := range vectors {
		f.Add(v.b32)
	}
	f.Add("")
	f.Add("80")
	f.Add("zz")
	f.Fuzz(func(t *testing.T, s string) {
		b, err := nixbase32.DecodeString(s)
		if err != nil {
			return
		}
		if len(b) != nixbase32.DecodedLen(len(s)) {
			t.Fatalf("len(DecodeString(%q)) = %d; want %d", s, len(b), nixbase32.DecodedLen(len(s)))
		}
		if got := nixbase32.EncodeToString(b); got != s {
			t.Fatalf("EncodeToString(DecodeString(%q)) = %q; want %q", s, got, s)
		}
	})
}

func FuzzEncode(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0xff, 0x00, 0x12})
	f.Fuzz(func(t *testing.T, b []byte) {
		s := nixbase32.EncodeToString(b)
		got, err := nixbase32.DecodeString(s)
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("DecodeString(%q) = %x, %v; want %x, nil", s, got, err, b)
		}
	})
}
