package decompress_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/nardedup/nardedup/internal/decompress"
	"github.com/nardedup/nardedup/internal/nixtest"
)

// benchInput is a set of corpus NARs, compressed with each tool.
type benchInput struct {
	raw  int64             // decompressed bytes
	comp map[string][]byte // format name -> concatenated compressed NARs
}

// loadBench takes the largest xz NARs of the small corpus up to ~48 MB
// decompressed and recompresses them with zstd -3 and bzip2 -9 (the
// levels Nix uses by default).
func loadBench(b *testing.B) benchInput {
	b.Helper()
	files, _ := filepath.Glob(filepath.Join(nixtest.Corpus(b, "small", 3), "bucket", "nar", "*.nar.xz"))
	sort.Slice(files, func(i, j int) bool { return size(files[i]) > size(files[j]) })
	in := benchInput{comp: map[string][]byte{}}
	var raw []byte
	for _, f := range files {
		xzData, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		nar := nixtest.Run(b, nil, xzData, "xz", "-dc")
		if len(raw)+len(nar) > 48<<20 {
			continue
		}
		raw = append(raw, nar...)
		in.comp["xz"] = append(in.comp["xz"], xzData...)
	}
	in.raw = int64(len(raw))
	in.comp["zstd"] = nixtest.Run(b, nil, raw, "zstd", "-c", "-q", "-3")
	in.comp["bzip2"] = nixtest.Run(b, nil, raw, "bzip2", "-c", "-9")
	return in
}

func size(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// BenchmarkDecompress reports decompressed MB/s of each decoder.
// xz-exec-file hands xz an *os.File (what a directory source returns),
// xz-exec a pipe fed from memory (like an HTTP body).
func BenchmarkDecompress(b *testing.B) {
	nixtest.RequireTool(b, "xz")
	in := loadBench(b)
	xzFile := filepath.Join(b.TempDir(), "all.xz")
	writeFile(b, xzFile, in.comp["xz"], 0o644)
	cases := []struct {
		name, data string
		decode     func(context.Context, io.Reader) (io.ReadCloser, error)
	}{
		{"xz-exec", "xz", decompress.ExecXZ(xzPath()).NewReader},
		{"xz-exec-file", "xz-file", decompress.ExecXZ(xzPath()).NewReader},
		{"xz-go", "xz", decompress.GoXZ().NewReader},
		{"xz-lib", "xz", func(ctx context.Context, r io.Reader) (io.ReadCloser, error) {
			d, ok := decompress.LibXZ()
			if !ok {
				b.Skip("liblzma cannot be loaded")
			}
			return d.NewReader(ctx, r)
		}},
		{"zstd", "zstd", func(ctx context.Context, r io.Reader) (io.ReadCloser, error) {
			return decompress.NewReader(ctx, r, "zstd")
		}},
		{"bzip2", "bzip2", func(ctx context.Context, r io.Reader) (io.ReadCloser, error) {
			return decompress.NewReader(ctx, r, "bzip2")
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(in.raw)
			for b.Loop() {
				var r io.Reader = bytes.NewReader(in.comp[c.data])
				if c.data == "xz-file" {
					f, err := os.Open(xzFile)
					if err != nil {
						b.Fatal(err)
					}
					defer f.Close()
					r = f
				}
				benchOne(b, c.decode, r, in.raw)
			}
		})
	}
}

func benchOne(b *testing.B, decode func(context.Context, io.Reader) (io.ReadCloser, error), r io.Reader, want int64) {
	rc, err := decode(context.Background(), r)
	if err != nil {
		b.Fatal(err)
	}
	n, err := io.Copy(io.Discard, rc)
	rc.Close()
	if err != nil || n != want {
		b.Fatalf("decoded %d bytes, %v; want %d", n, err, want)
	}
}
