package narfmt_test

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/nardedup/nardedup/narfmt"
)

func TestTypeString(t *testing.T) {
	for _, tt := range []struct {
		typ  narfmt.Type
		want string
	}{
		{narfmt.TypeRegular, "regular"},
		{narfmt.TypeDirectory, "directory"},
		{narfmt.TypeSymlink, "symlink"},
		{0, "Type(0)"},
		{9, "Type(9)"},
	} {
		if got := tt.typ.String(); got != tt.want {
			t.Errorf("Type(%d).String() = %q; want %q", uint8(tt.typ), got, tt.want)
		}
	}
}

// sampleNAR is a small tree with every node type.
func sampleNAR() []byte {
	var n nar
	n.str("nix-archive-1", "(", "type", "directory")
	n.str("entry", "(", "name", "bin", "node", "(", "type", "directory")
	n.str("entry", "(", "name", "sh", "node", "(", "type", "regular", "executable", "", "contents", "#!/bin/sh\n", ")", ")")
	n.str(")", ")")
	n.str("entry", "(", "name", "empty", "node", "(", "type", "directory", ")", ")")
	n.str("entry", "(", "name", "file", "node", "(", "type", "regular", "contents", "12345678", ")", ")")
	n.str("entry", "(", "name", "link", "node", "(", "type", "symlink", "target", "bin/sh", ")", ")")
	n.str(")")
	return n.Bytes()
}

func TestReaderHeaders(t *testing.T) {
	got, err := readAll(bytes.NewReader(sampleNAR()), true)
	if err != nil {
		t.Fatal(err)
	}
	want := []entry{
		{Header: narfmt.Header{Path: "/", Type: narfmt.TypeDirectory, Offset: 24}},
		{Header: narfmt.Header{Path: "/bin", Type: narfmt.TypeDirectory, Offset: 160}},
		{Header: narfmt.Header{Path: "/bin/sh", Type: narfmt.TypeRegular, Executable: true, Size: 10, Offset: 400}, Data: []byte("#!/bin/sh\n")},
		{Header: narfmt.Header{Path: "/empty", Type: narfmt.TypeDirectory, Offset: 560}},
		{Header: narfmt.Header{Path: "/file", Type: narfmt.TypeRegular, Size: 8, Offset: 800}, Data: []byte("12345678")},
		{Header: narfmt.Header{Path: "/link", Type: narfmt.TypeSymlink, LinkTarget: "bin/sh", Offset: 920}},
	}
	compareEntries(t, got, want)
}

// TestReaderOffsets checks Header.Offset against the stream: the contents
// of a regular file start there, other nodes start with "(" there.
func TestReaderOffsets(t *testing.T) {
	data := sampleNAR()
	got, err := readAll(bytes.NewReader(data), true)
	if err != nil {
		t.Fatal(err)
	}
	open := (&nar{}).str("(").Bytes()
	for _, e := range got {
		var want []byte
		if e.Type == narfmt.TypeRegular {
			want = e.Data
		} else {
			want = open
		}
		if at := data[e.Offset:]; !bytes.HasPrefix(at, want) {
			t.Errorf("%s: at offset %d got %q; want %q", e.Path, e.Offset, at[:min(len(at), 16)], want)
		}
	}
}

func TestReaderSkipsUnreadContents(t *testing.T) {
	r := narfmt.NewReader(bytes.NewReader(sampleNAR()))
	var paths []string
	for {
		h, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, h.Path)
		if h.Path == "/bin/sh" {
			var b [3]byte
			if n, err := r.Read(b[:]); n != 3 || err != nil {
				t.Fatalf("Read = %d, %v; want 3, nil", n, err)
			}
		}
	}
	if got, want := len(paths), 6; got != want {
		t.Fatalf("got %d entries %q; want %d", got, paths, want)
	}
	// EOF is sticky.
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("Next after EOF: got %v; want %v", err, io.EOF)
	}
}

func TestReaderReadOnNonFile(t *testing.T) {
	r := narfmt.NewReader(bytes.NewReader(sampleNAR()))
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if n, err := r.Read(make([]byte, 8)); n != 0 || err != io.EOF {
		t.Errorf("Read on directory = %d, %v; want 0, EOF", n, err)
	}
}

func TestReaderErrorsAreSticky(t *testing.T) {
	data := sampleNAR()
	data[len(data)-1] = 1 // non-zero padding after the final ")"
	r := narfmt.NewReader(bytes.NewReader(data))
	var err error
	for err == nil {
		_, err = r.Next()
	}
	if e := isFormatError(err); e != nil {
		t.Fatal(e)
	}
	if _, err2 := r.Next(); err2 != err {
		t.Errorf("second Next: got %v; want %v", err2, err)
	}
	if _, err2 := r.Read(make([]byte, 1)); err2 != err {
		t.Errorf("Read after error: got %v; want %v", err2, err)
	}
}

// TestReaderIOTest checks that readers returning short reads or data
// together with io.EOF give the same results.
func TestReaderIOTest(t *testing.T) {
	inputs := map[string][]byte{"sample": sampleNAR()}
	for name, data := range goldenNARs(t) {
		inputs[name] = data
	}
	wrappers := map[string]func(io.Reader) io.Reader{
		"OneByteReader": iotest.OneByteReader,
		"HalfReader":    iotest.HalfReader,
		"DataErrReader": iotest.DataErrReader,
		"OneByteDataErr": func(r io.Reader) io.Reader {
			return iotest.DataErrReader(iotest.OneByteReader(r))
		},
	}
	for name, data := range inputs {
		want, wantErr := readAll(bytes.NewReader(data), true)
		if wantErr != nil {
			t.Fatalf("%s: %v", name, wantErr)
		}
		// A truncated copy must fail the same way under every wrapper.
		cut := data[:len(data)-5]
		_, wantCutErr := readAll(bytes.NewReader(cut), true)
		for wname, wrap := range wrappers {
			got, err := readAll(wrap(bytes.NewReader(data)), true)
			if err != nil {
				t.Fatalf("%s/%s: %v", name, wname, err)
			}
			compareEntries(t, got, want)
			_, cutErr := readAll(wrap(bytes.NewReader(cut)), true)
			if cutErr == nil || wantCutErr == nil || cutErr.Error() != wantCutErr.Error() {
				t.Errorf("%s/%s truncated: got %v; want %v", name, wname, cutErr, wantCutErr)
			}
		}
	}
}

// TestReaderUnderlyingError checks that an error of the source is
// returned, wrapped with its offset, and not mistaken for bad data.
func TestReaderUnderlyingError(t *testing.T) {
	data := sampleNAR()
	r := io.MultiReader(bytes.NewReader(data[:100]), iotest.ErrReader(iotest.ErrTimeout))
	_, err := readAll(r, false)
	if !errors.Is(err, iotest.ErrTimeout) {
		t.Fatalf("got %v; want an error wrapping %v", err, iotest.ErrTimeout)
	}
	if errors.Is(err, narfmt.ErrInvalid) {
		t.Errorf("error %v wraps ErrInvalid; want only the source's error", err)
	}
	var fe *narfmt.Error
	if !errors.As(err, &fe) || fe.Offset != 100 {
		t.Errorf("got %#v; want *narfmt.Error at offset 100", err)
	}
}

// TestDeclaredLengthsDoNotAllocate reads NARs that declare huge lengths
// and checks that memory use stays small.
func TestDeclaredLengthsDoNotAllocate(t *testing.T) {
	inputs := map[string][]byte{
		"huge file": (&nar{}).str("nix-archive-1", "(", "type", "regular", "contents").
			u64(1 << 40).str(string(make([]byte, 1<<20))).Bytes(),
		"huge name":   (&nar{}).str("nix-archive-1", "(", "type", "directory", "entry", "(", "name").u64(1 << 40).Bytes(),
		"huge target": (&nar{}).str("nix-archive-1", "(", "type", "symlink", "target").u64(1 << 40).Bytes(),
		"huge token":  (&nar{}).u64(1 << 40).Bytes(),
	}
	for name, data := range inputs {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		r := narfmt.NewReader(bytes.NewReader(data))
		var err error
		for err == nil {
			if _, err = r.Next(); err == nil {
				_, err = io.Copy(io.Discard, r)
			}
		}
		runtime.ReadMemStats(&after)
		if e := isFormatError(err); e != nil {
			t.Errorf("%s: %v", name, e)
		}
		if got := after.TotalAlloc - before.TotalAlloc; got > 256<<10 {
			t.Errorf("%s: allocated %d bytes; want at most %d", name, got, 256<<10)
		}
	}
}

func TestErrorMessage(t *testing.T) {
	data := narOf(dirOf(entryOf("bin", dirOf(entryOf("zz", file("")), entryOf("foo", file(""))))))
	_, err := readAll(bytes.NewReader(data), false)
	want := `narfmt: at offset 448 in "/bin/foo": entry names not sorted (after "zz")`
	if err == nil || err.Error() != want {
		t.Errorf("got %v; want %s", err, want)
	}
}

// A long entry path is cut in the middle in messages, keeping both ends.
func TestErrorMessageShortensPath(t *testing.T) {
	leaf := "end-of-the-path"
	data := narOf(nest(20, strings.Repeat("p", 230)+leaf))
	_, err := readAll(bytes.NewReader(data), false)
	if err == nil {
		t.Fatal("a path past MaxPathLen was accepted")
	}
	msg := err.Error()
	if len(msg) > 400 || !strings.Contains(msg, `"/pppp`) || !strings.Contains(msg, leaf+`"`) || !strings.Contains(msg, "path length") {
		t.Errorf("got %d bytes: %s; want the path's head and tail and the reason, at most 400 bytes", len(msg), msg)
	}
}
