package gnudeflate_test

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/internal/gnudeflate"
	"github.com/nardedup/nardedup/internal/gziptest"
)

// gzipDeflate returns the deflate stream that `gzip -c -n -LEVEL` writes
// for data read from a regular file: its output less the 10-byte header
// and 8-byte trailer. path, if not empty, names a file holding data.
func gzipDeflate(t testing.TB, data []byte, path string, level int) []byte {
	t.Helper()
	var out []byte
	if path == "" {
		out = gziptest.File(t, data, level)
	} else {
		out = gziptest.Program(t, path, level)
	}
	return out[10 : len(out)-8]
}

// compress runs data through a Writer in writes of the given sizes,
// cycling through them (one write if sizes is empty).
func compress(t testing.TB, data []byte, level int, sizes ...int) []byte {
	t.Helper()
	var buf bytes.Buffer
	z, err := gnudeflate.NewWriter(&buf, level)
	if err != nil {
		t.Fatal(err)
	}
	writeIn(t, z, data, sizes...)
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeIn(t testing.TB, z *gnudeflate.Writer, data []byte, sizes ...int) {
	t.Helper()
	for i := 0; len(data) > 0; i++ {
		n := len(data)
		if len(sizes) > 0 {
			n = min(n, sizes[i%len(sizes)])
		}
		if m, err := z.Write(data[:n]); m != n || err != nil {
			t.Fatalf("Write: %d, %v; want %d, nil", m, err, n)
		}
		data = data[n:]
	}
}

// sameStream fails t if got differs from gzip's want, saying where, and
// checks that got inflates back to data.
func sameStream(t testing.TB, got, want, data []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("stream differs from gzip's at byte %d (got %d bytes, want %d)", i, len(got), len(want))
	}
	back, err := io.ReadAll(flate.NewReader(bytes.NewReader(got)))
	if err != nil || !bytes.Equal(back, data) {
		t.Fatalf("inflating: %v, same as input: %v", err, bytes.Equal(back, data))
	}
}

// bits01 returns n random bytes 0 and 1.
func bits01(seed uint64, n int) []byte {
	b := gziptest.Random(seed, n)
	for i := range b {
		b[i] &= 1
	}
	return b
}

type input struct {
	name string
	data []byte
	path string // a file holding data, to spare a copy
}

func inputs(t *testing.T) []input {
	repeated := bytes.Repeat([]byte("Nix stores paths under /nix/store by hash. "), 300_000/43+1)[:300_000]
	// A mix that crosses the window slides at 32 KiB and 64 KiB with
	// every kind of block: text, random bytes, runs.
	var mix []byte
	for i := range 5 {
		mix = append(mix, gziptest.Words(uint64(i), 23_000)...)
		mix = append(mix, gziptest.Random(uint64(i), 9_000)...)
		mix = append(mix, bytes.Repeat([]byte{byte(i)}, 5_000)...)
		mix = append(mix, repeated[:7_000+i]...)
	}
	in := []input{
		{name: "empty"},
		{name: "one byte", data: []byte("x")},
		{name: "two bytes", data: []byte("xy")},
		{name: "short text", data: []byte("Hello, hello, hello world! Hello world.\n")},
		{name: "repeated text 300K", data: repeated},
		{name: "random 200K", data: gziptest.Random(1, 200_000)},
		{name: "zeros 300K", data: make([]byte, 300_000)},
		{name: "words 500K", data: gziptest.Words(7, 500_000)},
		{name: "mix", data: mix},
		// Matches at the end that run into the window past the data.
		{name: "zeros and ones 435", data: bits01(6, 435)},
		{name: "zeros and ones 100K", data: bits01(8, 100_000)},
	}
	// Ends just around the places where gzip's reads and slides fall.
	for _, n := range []int{65_273, 65_274, 65_275, 65_535, 65_536, 65_537, 98_042, 131_072} {
		in = append(in, input{name: fmt.Sprint("words ", n), data: gziptest.Words(uint64(n), n)})
	}
	for _, p := range []string{
		"/usr/share/common-licenses/GPL-3",
		"/usr/bin/bash",
		"/usr/lib/x86_64-linux-gnu/libstdc++.so.6",
		"/usr/lib/x86_64-linux-gnu/libcrypto.so.3",
	} {
		if testing.Short() && strings.Contains(p, "crypto") {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Logf("skipping %s: %v", p, err)
			continue
		}
		in = append(in, input{name: filepath.Base(p), data: data, path: p})
	}
	return in
}

func TestMatchesGzip(t *testing.T) {
	for _, in := range inputs(t) {
		t.Run(in.name, func(t *testing.T) {
			path := in.path
			if path == "" {
				path = filepath.Join(t.TempDir(), "in")
				if err := os.WriteFile(path, in.data, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			for level := 1; level <= 9; level++ {
				t.Run(strconv.Itoa(level), func(t *testing.T) {
					want := gzipDeflate(t, in.data, path, level)
					sameStream(t, compress(t, in.data, level), want, in.data)
				})
			}
		})
	}
}

func TestSplitWrites(t *testing.T) {
	data := gziptest.Words(3, 200_000)
	data = append(data, gziptest.Random(3, 70_000)...)
	data = append(data, gziptest.Words(4, 100_000)...)
	r := rand.New(rand.NewPCG(9, 9))
	for _, level := range []int{1, 4, 6, 9} {
		want := compress(t, data, level)
		for range 3 {
			sizes := make([]int, 20)
			for i := range sizes {
				sizes[i] = 1 + r.IntN(1<<uint(r.IntN(18)))
			}
			if got := compress(t, data, level, sizes...); !bytes.Equal(got, want) {
				t.Fatalf("level %d, writes of %v: output differs from one write", level, sizes)
			}
		}
		if got := compress(t, data, level, 1); !bytes.Equal(got, want) {
			t.Fatalf("level %d, one byte a write: output differs from one write", level)
		}
	}
}

func TestReset(t *testing.T) {
	a, b := gziptest.Words(5, 150_000), gziptest.Random(5, 80_000)
	// Short inputs of zeros and ones end with matches that gzip compares
	// against the window past the data: a reused window must look like a
	// fresh one there.
	c, d := bits01(6, 435), bits01(7, 2000)
	wantA, wantB := compress(t, a, 9), compress(t, b, 2)
	wantC, wantD := compress(t, c, 8), compress(t, d, 8)
	var buf bytes.Buffer
	z, err := gnudeflate.NewWriter(&buf, 9)
	if err != nil {
		t.Fatal(err)
	}
	for round := range 3 {
		for _, c := range []struct {
			data, want []byte
			level      int
		}{{a, wantA, 9}, {b, wantB, 2}, {d, wantD, 8}, {c, wantC, 8}, {a[:1000], compress(t, a[:1000], 9), 9}} {
			buf.Reset()
			if err := z.Reset(&buf, c.level); err != nil {
				t.Fatal(err)
			}
			// Leave the previous stream unfinished once.
			if round == 1 {
				writeIn(t, z, b[:5000])
				if err := z.Reset(&buf, c.level); err != nil {
					t.Fatal(err)
				}
				buf.Reset()
			}
			writeIn(t, z, c.data, 7777)
			if err := z.Close(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), c.want) {
				t.Fatalf("round %d, level %d: a reused Writer's output differs", round, c.level)
			}
		}
	}
}

func TestErrors(t *testing.T) {
	for _, level := range []int{-1, 0, 10} {
		if _, err := gnudeflate.NewWriter(io.Discard, level); err == nil {
			t.Errorf("NewWriter at level %d: no error", level)
		}
	}
	z, err := gnudeflate.NewWriter(io.Discard, 6)
	if err != nil {
		t.Fatal(err)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := z.Write([]byte("late")); err == nil {
		t.Error("Write after Close: no error")
	}
	z.Reset(failWriter{}, 6)
	writeIn(t, z, gziptest.Random(2, 100_000)[:1])
	if _, err := z.Write(gziptest.Random(2, 100_000)); err != nil {
		// The first block may already be out; either way Close reports.
		t.Logf("Write: %v", err)
	}
	if err := z.Close(); err == nil {
		t.Error("Close with a failing writer: no error")
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, fmt.Errorf("disk full") }

func FuzzMatchesGzip(f *testing.F) {
	f.Add([]byte("hello hello hello"), byte(9))
	f.Add([]byte{}, byte(1))
	f.Add(bytes.Repeat([]byte("ab"), 300), byte(6))
	f.Add(gziptest.Random(4, 200), byte(4))
	f.Add(bits01(6, 435), byte(7))
	f.Fuzz(func(t *testing.T, data []byte, l byte) {
		level := 1 + int(l)%9
		want := gzipDeflate(t, data, "", level)
		sameStream(t, compress(t, data, level), want, data)
	})
}

func BenchmarkWriter(b *testing.B) {
	text := gziptest.Words(11, 4<<20)
	binary, err := os.ReadFile("/usr/bin/bash")
	if err != nil {
		binary = gziptest.Random(11, 1<<20)
	}
	z, err := gnudeflate.NewWriter(io.Discard, 1)
	if err != nil {
		b.Fatal(err)
	}
	for _, in := range []struct {
		name string
		data []byte
	}{{"text", text}, {"binary", binary}} {
		for _, level := range []int{1, 6, 9} {
			b.Run(fmt.Sprintf("%s/%d", in.name, level), func(b *testing.B) {
				b.SetBytes(int64(len(in.data)))
				for b.Loop() {
					z.Reset(io.Discard, level)
					z.Write(in.data)
					z.Close()
				}
			})
		}
	}
}

func TestWriteDoesNotAllocate(t *testing.T) {
	data := gziptest.Words(12, 1<<20)
	z, err := gnudeflate.NewWriter(io.Discard, 6)
	if err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(3, func() {
		z.Reset(io.Discard, 6)
		for p := data; len(p) > 0; p = p[min(len(p), 10_000):] {
			z.Write(p[:min(len(p), 10_000)])
		}
		z.Close()
	})
	if allocs != 0 {
		t.Errorf("%v allocations to compress 1 MiB after Reset; want 0", allocs)
	}
}

// TestRemakesSystemGzipFiles remakes gzip members that Debian's packages
// ship (changelogs and man pages, written by `gzip -9n` when the packages
// were built) from their decompressed bytes.
func TestRemakesSystemGzipFiles(t *testing.T) {
	var paths []string
	for _, g := range []string{"/usr/share/doc/*/changelog*.gz", "/usr/share/man/man*/*.gz"} {
		m, _ := filepath.Glob(g)
		paths = append(paths, m...)
	}
	most := 2000
	if testing.Short() {
		most = 200
	}
	if len(paths) > most {
		paths = paths[:most]
	}
	if len(paths) == 0 {
		t.Skip("no gzip files in /usr/share")
	}
	remade := 0
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil || len(raw) < 18 || raw[3] != 0 {
			continue // unreadable, or a header with optional fields
		}
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		zr.Multistream(false)
		data, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if !bytes.Equal(compress(t, data, 9), raw[10:len(raw)-8]) {
			t.Errorf("%s: not remade by level 9", p)
		}
		remade++
	}
	t.Logf("remade %d of %d members", remade, len(paths))
}
