package nixbase32_test

import (
	"testing"

	"github.com/nardedup/nardedup/narfmt/nixbase32"
)

func BenchmarkEncode(b *testing.B) {
	src := make([]byte, 32)
	dst := make([]byte, nixbase32.EncodedLen(len(src)))
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		nixbase32.Encode(dst, src)
	}
}

func BenchmarkDecode(b *testing.B) {
	src := []byte("0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73")
	dst := make([]byte, nixbase32.DecodedLen(len(src)))
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := nixbase32.Decode(dst, src); err != nil {
			b.Fatal(err)
		}
	}
}
