package narfmt_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/narfmt"
)

// step is one call on a Writer: a header, or contents when hdr is nil.
type step struct {
	hdr  *narfmt.Header
	data string
}

func hdr(path string, typ narfmt.Type) step {
	return step{hdr: &narfmt.Header{Path: path, Type: typ}}
}

func regHdr(path string, size int64) step {
	return step{hdr: &narfmt.Header{Path: path, Type: narfmt.TypeRegular, Size: size}}
}

func data(s string) step { return step{data: s} }

const (
	tReg = narfmt.TypeRegular
	tDir = narfmt.TypeDirectory
	tSym = narfmt.TypeSymlink
)

// badWrites lists call sequences whose last call must fail with msg.
// Close is called when the last step succeeds.
var badWrites = []struct {
	name  string
	steps []step
	msg   string
}{
	{"no root", nil, "no root entry"},
	{"first not root", []step{hdr("/a", tDir)}, `first entry must be the root`},
	{"unknown type", []step{hdr("/", 0)}, "invalid type"},
	{"executable directory", []step{{hdr: &narfmt.Header{Path: "/", Type: tDir, Executable: true}}}, "executable directory"},
	{"executable symlink", []step{{hdr: &narfmt.Header{Path: "/", Type: tSym, Executable: true, LinkTarget: "x"}}}, "executable symlink"},
	{"size on directory", []step{{hdr: &narfmt.Header{Path: "/", Type: tDir, Size: 3}}}, "non-zero size"},
	{"target on file", []step{{hdr: &narfmt.Header{Path: "/", Type: tReg, LinkTarget: "x"}}}, "link target for regular"},
	{"negative size", []step{regHdr("/", -1)}, "negative size"},
	{"target too long", []step{{hdr: &narfmt.Header{Path: "/", Type: tSym, LinkTarget: strings.Repeat("x", narfmt.MaxTargetLen+1)}}}, "exceeds limit"},
	{"target with NUL", []step{{hdr: &narfmt.Header{Path: "/", Type: tSym, LinkTarget: "a\x00"}}}, "contains NUL"},
	{"entry after file root", []step{regHdr("/", 0), regHdr("/a", 0)}, "after a non-directory root"},
	{"second root", []step{hdr("/", tDir), hdr("/", tDir)}, "empty entry name"},
	{"relative path", []step{hdr("/", tDir), hdr("a", tDir)}, "not absolute"},
	{"trailing slash", []step{hdr("/", tDir), hdr("/a/", tDir)}, "empty entry name"},
	{"double slash", []step{hdr("/", tDir), hdr("//a", tDir)}, "not canonical"},
	{"dot", []step{hdr("/", tDir), hdr("/.", tDir)}, `invalid entry name "."`},
	{"dot dot", []step{hdr("/", tDir), hdr("/..", tDir)}, `invalid entry name ".."`},
	{"NUL in name", []step{hdr("/", tDir), hdr("/a\x00", tDir)}, "contains NUL"},
	{"name too long", []step{hdr("/", tDir), hdr("/"+strings.Repeat("n", 256), tDir)}, "exceeds limit"},
	{"path too long", []step{hdr("/", tDir), hdr(strings.Repeat("/d", 2049), tDir)}, "path length"},
	{"unsorted", []step{hdr("/", tDir), hdr("/b", tDir), hdr("/a", tDir)}, "not sorted"},
	{"unsorted after subdir", []step{hdr("/", tDir), hdr("/b", tDir), hdr("/b/x", tDir), hdr("/a", tDir)}, "not sorted"},
	{"duplicate", []step{hdr("/", tDir), regHdr("/a", 0), regHdr("/a", 0)}, "duplicate"},
	{"missing parent", []step{hdr("/", tDir), hdr("/a/b", tDir)}, "is not open"},
	{"parent is a file", []step{hdr("/", tDir), regHdr("/a", 0), hdr("/a/b", tDir)}, "is not open"},
	{"parent is a symlink", []step{hdr("/", tDir), {hdr: &narfmt.Header{Path: "/a", Type: tSym, LinkTarget: "x"}}, hdr("/a/b", tDir)}, "is not open"},
	{"reopen closed directory", []step{hdr("/", tDir), hdr("/a", tDir), hdr("/b", tDir), hdr("/a/c", tDir)}, "is not open"},
	{"short file then header", []step{hdr("/", tDir), regHdr("/a", 5), data("abc"), hdr("/b", tDir)}, "missing 2 bytes"},
	{"short file then close", []step{regHdr("/", 5), data("abcd")}, "missing 1 bytes"},
	{"write too long", []step{regHdr("/", 2), data("abc")}, narfmt.ErrWriteTooLong.Error()},
	{"write to directory", []step{hdr("/", tDir), data("x")}, narfmt.ErrWriteTooLong.Error()},
	{"write after full file", []step{regHdr("/", 1), data("a"), data("b")}, narfmt.ErrWriteTooLong.Error()},
}

func runSteps(w *narfmt.Writer, steps []step) error {
	for _, s := range steps {
		var err error
		if s.hdr != nil {
			err = w.WriteHeader(s.hdr)
		} else {
			_, err = w.Write([]byte(s.data))
		}
		if err != nil {
			return err
		}
	}
	return w.Close()
}

func TestWriterRejects(t *testing.T) {
	for _, tt := range badWrites {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := runSteps(narfmt.NewWriter(&buf), tt.steps)
			if err == nil {
				t.Fatalf("got no error; want one containing %q", tt.msg)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("got %q; want it to contain %q", err, tt.msg)
			}
			if errors.Is(err, narfmt.ErrWriteTooLong) {
				return
			}
			if e := isFormatError(err); e != nil {
				t.Error(e)
			}
		})
	}
}

// TestWriterRecovers checks that a refused header leaves the Writer usable
// and the output unchanged.
func TestWriterRecovers(t *testing.T) {
	var buf bytes.Buffer
	w := narfmt.NewWriter(&buf)
	for _, s := range []step{hdr("/", tDir), regHdr("/b", 1), data("x")} {
		if s.hdr != nil {
			must(t, w.WriteHeader(s.hdr))
		} else if _, err := w.Write([]byte(s.data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.WriteHeader(&narfmt.Header{Path: "/a", Type: tDir}); err == nil {
		t.Fatal("out-of-order header accepted")
	}
	if _, err := w.Write([]byte("y")); !errors.Is(err, narfmt.ErrWriteTooLong) {
		t.Fatalf("Write past size: got %v; want %v", err, narfmt.ErrWriteTooLong)
	}
	must(t, w.WriteHeader(&narfmt.Header{Path: "/c", Type: tSym, LinkTarget: "b"}))
	must(t, w.Close())
	must(t, w.Close())
	want := narOf(dirOf(entryOf("b", file("x")), entryOf("c", []string{"(", "type", "symlink", "target", "b", ")"})))
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("got %q; want %q", buf.Bytes(), want)
	}
	if err := w.WriteHeader(&narfmt.Header{Path: "/d", Type: tDir}); err == nil {
		t.Error("WriteHeader after Close: got no error")
	}
}

// failWriter fails every write after n bytes.
type failWriter struct{ n int }

var errFail = errors.New("disk full")

func (f *failWriter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		n := f.n
		f.n = 0
		return n, errFail
	}
	f.n -= len(p)
	return len(p), nil
}

// TestWriterUnderlyingError checks that write errors surface and stick.
func TestWriterUnderlyingError(t *testing.T) {
	w := narfmt.NewWriter(&failWriter{n: 100})
	must(t, w.WriteHeader(&narfmt.Header{Path: "/", Type: tReg, Size: 1 << 20}))
	_, err := w.Write(make([]byte, 1<<20))
	if !errors.Is(err, errFail) {
		t.Fatalf("Write: got %v; want %v", err, errFail)
	}
	if err2 := w.Close(); !errors.Is(err2, errFail) {
		t.Errorf("Close: got %v; want %v", err2, errFail)
	}
	if err2 := w.WriteHeader(&narfmt.Header{Path: "/x", Type: tDir}); !errors.Is(err2, errFail) {
		t.Errorf("WriteHeader: got %v; want %v", err2, errFail)
	}
}

// TestWriterClosesDirectories checks the implicit closing of directories
// at Close and when moving up the tree.
func TestWriterClosesDirectories(t *testing.T) {
	entries := []entry{
		dir("/"), dir("/a"), dir("/a/b"), dir("/a/b/c"), reg("/a/b/c/f", true, "123456789"),
		dir("/a/c"), sym("/b", "a/b/c/f"), dir("/c"), dir("/c/d"),
	}
	got, err := writeAll(entries)
	if err != nil {
		t.Fatal(err)
	}
	back, err := readAll(bytes.NewReader(got), false)
	if err != nil {
		t.Fatalf("reading written NAR: %v", err)
	}
	compareEntries(t, back, entries)
}
