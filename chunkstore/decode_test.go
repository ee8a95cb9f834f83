package chunkstore

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// testFrame returns data like a NAR's: the head of $NARDEDUP_BENCH_NAR (a
// .nar.xz file) if set, else text of low entropy.
func testFrame(tb testing.TB, n int) []byte {
	if f := os.Getenv("NARDEDUP_BENCH_NAR"); f != "" {
		out, err := exec.Command("xz", "-dc", f).Output()
		if err != nil {
			tb.Fatal(err)
		}
		if len(out) >= n {
			return out[:n]
		}
	}
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		b.WriteString("/nix/store/0123456789abcdfghijklmnpqrsvwxyz-lib/libfoo.so.")
		b.WriteByte(byte('0' + i%10))
		b.WriteByte(byte(i >> 3))
	}
	return b.Bytes()[:n]
}

func newTestDecoder(tb testing.TB) *packReader {
	dec, err := zstd.NewReader(nil, zstd.WithDecoderMaxMemory(MaxFrameSize), zstd.WithDecoderMaxWindow(MaxFrameSize))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(dec.Close)
	return &packReader{dec: dec}
}

// encodedFrame returns n bytes of testFrame and their frame, compressed
// at level 3.
func encodedFrame(tb testing.TB, n int) (data, comp []byte) {
	data = testFrame(tb, n)
	enc, err := newKlauspostEncoder(zstd.SpeedDefault, 22)
	if err != nil {
		tb.Fatal(err)
	}
	comp, err = enc.encode(nil, data)
	if err != nil {
		tb.Fatal(err)
	}
	return data, comp
}

func TestDecodeFrame(t *testing.T) {
	r := newTestDecoder(t)
	data, comp := encodedFrame(t, 1<<20)
	got, err := r.decodeFrame(getBuf(len(data)), comp, uint32(len(data)))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("decodeFrame: %d bytes, error %v; want the %d bytes encoded", len(got), err, len(data))
	}
	// A frame that holds more or less than it should fails or comes back
	// with its own length (which readFrame checks), and garbage fails.
	if got, err := r.decodeFrame(nil, comp, uint32(len(data)-1)); err == nil && len(got) == len(data)-1 {
		t.Errorf("decodeFrame of %d bytes into %d: no error", len(data), len(data)-1)
	}
	if got, err := r.decodeFrame(nil, comp, uint32(len(data)+1)); err == nil && len(got) != len(data) {
		t.Errorf("decodeFrame of %d bytes, wanting %d: got %d", len(data), len(data)+1, len(got))
	}
	bad := bytes.Clone(comp)
	bad[len(bad)/2] ^= 0xff
	if got, err := r.decodeFrame(nil, bad, uint32(len(data))); err == nil && bytes.Equal(got, data) {
		t.Error("decodeFrame of a damaged frame: no error")
	}
	if _, err := r.decodeFrame(nil, []byte("not zstd"), 8); err == nil {
		t.Error("decodeFrame of garbage: no error")
	}
}

// BenchmarkDecodeFrame decodes a 4 MiB frame compressed at level 3 with
// this build's frame decoder (libzstd with cgo) and with the pure Go one.
func BenchmarkDecodeFrame(b *testing.B) {
	r := newTestDecoder(b)
	data, comp := encodedFrame(b, 4<<20)
	dst := make([]byte, 0, len(data))
	for _, bc := range []struct {
		name   string
		decode func() ([]byte, error)
	}{
		{"build", func() ([]byte, error) { return r.decodeFrame(dst, comp, uint32(len(data))) }},
		{"go", func() ([]byte, error) { return r.dec.DecodeAll(comp, dst[:0]) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				out, err := bc.decode()
				if err == nil && len(out) != len(data) {
					err = errors.New("short")
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
