package narinfo_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/narfmt/narinfo"
	"github.com/nardedup/nardedup/narfmt/signature"
)

func benchInput(b *testing.B) string {
	data, err := os.ReadFile(filepath.Join("testdata", "x8shz8np4d4r1s60llabw1rmbl8glhf3.narinfo"))
	if err != nil {
		b.Fatal(err)
	}
	return string(data)
}

func BenchmarkParse(b *testing.B) {
	s := benchInput(b)
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := narinfo.Parse(strings.NewReader(s)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkString(b *testing.B) {
	s := benchInput(b)
	ni, err := narinfo.Parse(strings.NewReader(s))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		_ = ni.String()
	}
}

func BenchmarkVerify(b *testing.B) {
	s := benchInput(b)
	ni, err := narinfo.Parse(strings.NewReader(s))
	if err != nil {
		b.Fatal(err)
	}
	pk := trustedKey(b)
	keys := []signature.PublicKey{pk}
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		if err := ni.Verify(keys); err != nil {
			b.Fatal(err)
		}
	}
}
