package nixhash_test

import (
	"testing"

	"github.com/nardedup/nardedup/narfmt/nixhash"
)

func BenchmarkParse(b *testing.B) {
	s := "sha256:" + vectors[0].b32
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := nixhash.Parse(s); err != nil {
			b.Fatal(err)
		}
	}
}
