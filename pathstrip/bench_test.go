package pathstrip_test

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/nardedup/nardedup/pathstrip"
)

// benchInput returns about 24 MB of real NAR bytes from gen-1 of the small
// corpus, or synthetic bytes with the corpus's path density (18 per MB) when
// the corpus is absent.
func benchInput(b *testing.B) []byte {
	b.Helper()
	base := os.Getenv("NARDEDUP_CORPUS_DIR")
	if base == "" {
		base = "/var/tmp/nardedup-corpus"
	}
	benchCorpus := base + "/small-3"
	if _, err := os.Stat(benchCorpus + "/READY"); err == nil {
		nars := corpusGen(b, benchCorpus, 1)
		var in []byte
		for _, name := range sortedNames(nars) {
			if len(in) < 24<<20 {
				in = append(in, nars[name]...)
			}
		}
		return in
	}
	return syntheticNAR(24<<20, 18)
}

// syntheticNAR makes n bytes of ELF-like filler with perMB store paths per
// million bytes, drawn from 40 distinct paths.
func syntheticNAR(n, perMB int) []byte {
	rng := rand.New(rand.NewPCG(1, 1))
	filler := make([]byte, 1<<16)
	for i := range filler {
		filler[i] = byte(rng.IntN(256))
		if rng.IntN(4) == 0 {
			filler[i] = '/'
		}
	}
	out := make([]byte, 0, n+1000)
	for len(out) < n {
		gap := rng.IntN(2 * 1000000 / perMB)
		for gap > 0 {
			c := copy(filler[:min(gap, len(filler))], filler)
			out = append(out, filler[:c]...)
			gap -= c
		}
		out = append(out, sp(hashA[:30]+fmt.Sprintf("%02d", rng.IntN(40)), "lib-1.0")+"/lib\x00"...)
	}
	return out
}

func stripBench(in []byte, opt pathstrip.Options, res, pos *bytes.Buffer, piece int) *pathstrip.Stripper {
	res.Reset()
	pos.Reset()
	s := pathstrip.NewStripper(res, pos, opt)
	for off := 0; off < len(in); off += piece {
		s.Write(in[off:min(len(in), off+piece)])
	}
	s.Close()
	return s
}

func BenchmarkStrip(b *testing.B) {
	inputs := []struct {
		name string
		in   []byte
	}{{"corpus", benchInput(b)}, {"synthetic", syntheticNAR(24<<20, 18)}, {"dense", syntheticNAR(8<<20, 2000)}}
	for _, c := range inputs {
		for _, mode := range []pathstrip.Mode{pathstrip.CutHash, pathstrip.CutHashName} {
			b.Run(c.name+"/"+mode.String(), func(b *testing.B) { benchStrip(b, c.in, mode) })
		}
	}
}

func benchStrip(b *testing.B, in []byte, mode pathstrip.Mode) {
	{
		{
			opt := pathstrip.Options{Mode: mode}
			var res, pos bytes.Buffer
			res.Grow(len(in))
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			var s *pathstrip.Stripper
			for b.Loop() {
				s = stripBench(in, opt, &res, &pos, 64<<10)
			}
			table := pos.Len() + len(pathstrip.EncodePaths(s.Paths()))
			b.ReportMetric(float64(table)/(float64(len(in))/1e6), "table-B/MB")
			b.ReportMetric(float64(s.Cuts())/(float64(len(in))/1e6), "cuts/MB")
		}
	}
}

func BenchmarkRestore(b *testing.B) {
	in := benchInput(b)
	opt := pathstrip.Options{Mode: pathstrip.DefaultMode}
	var res, pos bytes.Buffer
	s := stripBench(in, opt, &res, &pos, 64<<10)
	paths := s.Paths()
	buf := make([]byte, 64<<10)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		r := pathstrip.NewRestorer(bytes.NewReader(res.Bytes()), bytes.NewReader(pos.Bytes()), paths, opt)
		n := 0
		for {
			c, err := r.Read(buf)
			n += c
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		if n != len(in) {
			b.Fatalf("got %d bytes; want %d", n, len(in))
		}
	}
}

// BenchmarkStripManyPaths strips NARs with more distinct store paths than
// DefaultMaxPaths: the bytes allocated per strip stay the same however many
// paths lie beyond the bound.
func BenchmarkStripManyPaths(b *testing.B) {
	for _, n := range []int{70000, 280000} {
		nar := manyPathsNAR(b, n, 0)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			opt := pathstrip.Options{Mode: pathstrip.DefaultMode}
			b.SetBytes(int64(len(nar)))
			b.ReportAllocs()
			var s *pathstrip.Stripper
			for b.Loop() {
				s = pathstrip.NewStripper(io.Discard, io.Discard, opt)
				for off := 0; off < len(nar); off += 64 << 10 {
					s.Write(nar[off:min(len(nar), off+64<<10)])
				}
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(s.Paths())), "paths")
		})
	}
}
