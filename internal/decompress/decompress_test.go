package decompress_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nardedup/nardedup/internal/decompress"
	"github.com/nardedup/nardedup/internal/nixtest"
)

// format is one decoder under test, with the CLI compressing its input.
type format struct {
	name        string // test name
	compression string // narinfo Compression value
	tool        string
	args        []string
	decode      func(ctx context.Context, r io.Reader) (io.ReadCloser, error)
}

func formats() []format {
	by := func(c string) func(context.Context, io.Reader) (io.ReadCloser, error) {
		return func(ctx context.Context, r io.Reader) (io.ReadCloser, error) { return decompress.NewReader(ctx, r, c) }
	}
	fs := []format{
		{"xz-exec", "xz", "xz", []string{"-c", "-6"}, decompress.ExecXZ(xzPath()).NewReader},
		{"xz-go", "xz", "xz", []string{"-c", "-6"}, decompress.GoXZ().NewReader},
		{"zstd", "zstd", "zstd", []string{"-c", "-q", "-3"}, by("zstd")},
		{"bzip2", "bzip2", "bzip2", []string{"-c"}, by("bzip2")},
	}
	if d, ok := decompress.LibXZ(); ok {
		fs = append(fs, format{"xz-lib", "xz", "xz", []string{"-c", "-6"}, d.NewReader})
	}
	return fs
}

func xzPath() string {
	if path, err := exec.LookPath("xz"); err == nil {
		return path
	}
	return "/usr/bin/xz"
}

// sample is compressible NAR-like test data.
func sample(t testing.TB) []byte {
	t.Helper()
	var b bytes.Buffer
	for i := 0; b.Len() < 600_000; i++ {
		fmt.Fprintf(&b, "entry %d %x\x00", i, i*i*7919)
	}
	return b.Bytes()
}

func compress(t testing.TB, f format, data []byte) []byte {
	t.Helper()
	nixtest.RequireTool(t, f.tool)
	return nixtest.Run(t, nil, data, f.tool, f.args...)
}

// decodeAll decompresses in with a deadline; a hang fails the test.
func decodeAll(t *testing.T, f format, in []byte) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	type result struct {
		out []byte
		err error
	}
	ch := make(chan result, 1)
	go func() {
		rc, err := f.decode(ctx, bytes.NewReader(in))
		if err != nil {
			ch <- result{nil, err}
			return
		}
		out, err := io.ReadAll(rc)
		if cerr := rc.Close(); cerr != nil && err == nil {
			err = cerr
		}
		ch <- result{out, err}
	}()
	select {
	case r := <-ch:
		return r.out, r.err
	case <-time.After(30 * time.Second):
		t.Fatal("decoder hangs")
		return nil, nil
	}
}

func TestDecompressRoundTrip(t *testing.T) {
	data := sample(t)
	for _, f := range formats() {
		t.Run(f.name, func(t *testing.T) {
			comp := compress(t, f, data)
			out, err := decodeAll(t, f, comp)
			if err != nil || !bytes.Equal(out, data) {
				t.Fatalf("got %d bytes, %v; want %d bytes", len(out), err, len(data))
			}
			// Two concatenated streams decode to the data twice, like
			// the reference tools.
			out, err = decodeAll(t, f, append(slicesClone(comp), comp...))
			if err != nil || !bytes.Equal(out, append(slicesClone(data), data...)) {
				t.Errorf("concatenated: got %d bytes, %v; want %d", len(out), err, 2*len(data))
			}
		})
	}
	for _, c := range []string{"", "none"} {
		rc, err := decompress.NewReader(context.Background(), bytes.NewReader(data), c)
		if err != nil {
			t.Fatal(err)
		}
		if out, err := io.ReadAll(rc); err != nil || !bytes.Equal(out, data) {
			t.Errorf("%q: got %d bytes, %v", c, len(out), err)
		}
		rc.Close()
	}
}

func slicesClone(b []byte) []byte { return append([]byte(nil), b...) }

func TestDecompressBadInput(t *testing.T) {
	data := sample(t)
	for _, f := range formats() {
		t.Run(f.name, func(t *testing.T) {
			comp := compress(t, f, data)
			n := len(comp)
			cases := map[string][]byte{"empty": {}, "garbage": []byte(strings.Repeat("not compressed ", 100))}
			for _, cut := range []int{1, 4, 12, 100, n / 3, n / 2, n - 40, n - 9, n - 4, n - 1} {
				cases[fmt.Sprintf("truncated at %d of %d", cut, n)] = comp[:cut]
			}
			for _, at := range []int{n / 4, n / 2, 3 * n / 4} {
				bad := slicesClone(comp)
				bad[at] ^= 0x55
				cases[fmt.Sprintf("byte %d flipped", at)] = bad
			}
			cases["trailing garbage"] = append(slicesClone(comp), "garbage after the stream"...)
			for name, in := range cases {
				out, err := decodeAll(t, f, in)
				if err == nil {
					t.Errorf("%s: no error, %d bytes decoded", name, len(out))
				} else if strings.TrimSpace(err.Error()) == "" {
					t.Errorf("%s: empty error message", name)
				}
			}
		})
	}
}

func TestDecompressUnsupported(t *testing.T) {
	for _, c := range []string{"gzip", "XZ", "xz ", "lzip", "br", "zst"} {
		rc, err := decompress.NewReader(context.Background(), strings.NewReader("x"), c)
		if !errors.Is(err, decompress.ErrUnsupported) || !strings.Contains(err.Error(), fmt.Sprintf("%q", c)) {
			t.Errorf("NewReader(%q) = %v, %v; want ErrUnsupported naming it", c, rc, err)
		}
	}
}

func TestDecompressCanceled(t *testing.T) {
	data := sample(t)
	for _, f := range formats() {
		t.Run(f.name, func(t *testing.T) {
			comp := compress(t, f, data)
			ctx, cancel := context.WithCancel(context.Background())
			rc, err := f.decode(ctx, bytes.NewReader(comp))
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			if _, err := io.ReadFull(rc, make([]byte, 1000)); err != nil {
				t.Fatal(err)
			}
			cancel()
			if _, err := io.Copy(io.Discard, rc); !errors.Is(err, context.Canceled) {
				t.Errorf("read after cancel: %v, want context.Canceled", err)
			}
		})
	}
}
