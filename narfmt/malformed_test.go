package narfmt_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/narfmt"
)

func TestHelpersMakeValidNARs(t *testing.T) {
	data := narOf(dirOf(entryOf("a", file("x")), entryOf("b", dirOf())))
	got, err := readAll(bytes.NewReader(data), false)
	if err != nil {
		t.Fatal(err)
	}
	compareEntries(t, got, []entry{dir("/"), reg("/a", false, "x"), dir("/b")})
}

// malformed lists NARs that break one rule each, with a part of the
// expected error message and the offset it must name.
var malformed = []struct {
	name   string
	data   []byte
	msg    string
	offset int64
}{
	{"empty stream", nil, "truncated", 0},
	{"bad magic", (&nar{}).str("nix-archive-2").str(file("x")...).Bytes(), "bad magic", 0},
	{"magic too long", (&nar{}).str(strings.Repeat("n", 17)).Bytes(), "exceeds limit", 0},
	{"huge magic length", (&nar{}).u64(1 << 62).Bytes(), "exceeds limit", 0},
	{"bad open token", narOf([]string{"{", "type", "regular", "contents", "", ")"}), `want "("`, 24},
	{"bad type token", narOf([]string{"(", "typ", "regular", "contents", "", ")"}), `want "type"`, 40},
	{"unknown type", narOf([]string{"(", "type", "fifo", ")"}), "unknown node type", 56},
	{"regular without contents", narOf([]string{"(", "type", "regular", ")"}), `want "contents"`, 72},
	{"contents twice", narOf([]string{"(", "type", "regular", "contents", "", "contents", "", ")"}), `want ")"`, 96},
	{"executable after contents", narOf([]string{"(", "type", "regular", "contents", "", "executable", "", ")"}), `want ")"`, 96},
	{"executable twice", narOf([]string{"(", "type", "regular", "executable", "", "executable", "", "contents", "", ")"}), `want "contents"`, 104},
	{"executable marker non-empty", narOf([]string{"(", "type", "regular", "executable", "x", "contents", "", ")"}), "non-empty", 96},
	{"executable marker too long", narOf([]string{"(", "type", "regular", "executable", strings.Repeat("x", 100), "contents", "", ")"}), "exceeds limit", 96},
	{"contents length negative", (&nar{}).str("nix-archive-1", "(", "type", "regular", "contents").u64(1 << 63).Bytes(), "too large", 88},
	{"contents length beyond data", (&nar{}).str("nix-archive-1", "(", "type", "regular", "contents").u64(1 << 40).str("x").Bytes(), "truncated", 112},
	{"non-zero padding in token", patch(narOf(file("x")), 35, 'x'), "non-zero padding", 33},
	{"non-zero padding in contents", bytes.Replace(narOf(file("abc")), []byte("abc\x00"), []byte("abc\x01"), 1), "non-zero padding", 99},
	{"non-zero length high bits", patch(narOf(file("x")), 31, 1), "exceeds limit", 24},
	{"trailing garbage", append(narOf(file("x")), 0), "trailing data", 120},
	{"trailing node", append(narOf(file("x")), narOf(file("x"))[24:]...), "trailing data", 120},
	{"unsorted entries", narOf(dirOf(entryOf("b", file("")), entryOf("a", file("")))), "not sorted", 312},
	{"duplicate entries", narOf(dirOf(entryOf("a", file("")), entryOf("a", file("")))), "duplicate", 312},
	{"unsorted bytewise", narOf(dirOf(entryOf("a", file("")), entryOf("B", file("")))), "not sorted", 312},
	{"entry name .", narOf(dirOf(entryOf(".", file("")))), `invalid entry name "."`, 128},
	{"entry name ..", narOf(dirOf(entryOf("..", file("")))), `invalid entry name ".."`, 128},
	{"entry name with slash", narOf(dirOf(entryOf("a/b", file("")))), "contains '/'", 128},
	{"entry name with NUL", narOf(dirOf(entryOf("a\x00b", file("")))), "contains NUL", 128},
	{"empty entry name", narOf(dirOf(entryOf("", file("")))), "empty entry name", 128},
	{"entry name too long", narOf(dirOf(entryOf(strings.Repeat("a", 256), file("")))), "exceeds limit", 128},
	{"huge entry name length", (&nar{}).str("nix-archive-1", "(", "type", "directory", "entry", "(", "name").u64(1 << 60).Bytes(), "exceeds limit", 128},
	{"entry without name", narOf([]string{"(", "type", "directory", "entry", "(", "node", "(", "type", "directory", ")", ")", ")"}), `want "name"`, 112},
	{"entry without node", narOf([]string{"(", "type", "directory", "entry", "(", "name", "a", ")", ")"}), `want "node"`, 144},
	{"entry not closed", narOf([]string{"(", "type", "directory", "entry", "(", "name", "a", "node", "(", "type", "directory", ")", "entry", ")"}), `want ")"`, 232},
	{"unknown directory field", narOf([]string{"(", "type", "directory", "target", "x", ")"}), `want "entry" or ")"`, 80},
	{"entry in regular file", narOf([]string{"(", "type", "regular", "entry", ")"}), `want "contents"`, 72},
	{"symlink without target", narOf([]string{"(", "type", "symlink", ")"}), `want "target"`, 72},
	{"symlink with contents", narOf([]string{"(", "type", "symlink", "target", "x", "contents", "", ")"}), `want ")"`, 104},
	{"symlink target too long", narOf([]string{"(", "type", "symlink", "target", strings.Repeat("t", narfmt.MaxTargetLen+1), ")"}), "exceeds limit", 88},
	{"symlink target with NUL", narOf([]string{"(", "type", "symlink", "target", "a\x00", ")"}), "contains NUL", 88},
	{"path too long", narOf(nest(20, strings.Repeat("p", 250))), "path length", 6272},
	{"node after root closed", append(narOf(dirOf()), (&nar{}).str(")").Bytes()...), "trailing data", 96},
}

// patch returns a copy of b with b[i] set to c.
func patch(b []byte, i int, c byte) []byte {
	b = bytes.Clone(b)
	b[i] = c
	return b
}

// nest returns a chain of depth directories called name around an empty file.
func nest(depth int, name string) []string {
	node := file("")
	for range depth {
		node = dirOf(entryOf(name, node))
	}
	return node
}

func TestMalformed(t *testing.T) {
	for _, tt := range malformed {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readAll(bytes.NewReader(tt.data), false)
			if err == nil {
				t.Fatalf("got no error; want one containing %q", tt.msg)
			}
			if e := isFormatError(err); e != nil {
				t.Fatal(e)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("got %q; want it to contain %q", err, tt.msg)
			}
			var fe *narfmt.Error
			errors.As(err, &fe)
			if fe.Offset != tt.offset {
				t.Errorf("got offset %d (%v); want %d", fe.Offset, err, tt.offset)
			}
		})
	}
}

// TestTruncated cuts valid NARs at every byte boundary: each prefix must
// be rejected with a format error wrapping io.ErrUnexpectedEOF.
func TestTruncated(t *testing.T) {
	inputs := goldenNARs(t)
	inputs["sample"] = sampleNAR()
	for name, data := range inputs {
		for i := range len(data) {
			_, err := readAll(bytes.NewReader(data[:i]), false)
			if err == nil {
				t.Fatalf("%s cut at %d: got no error", name, i)
			}
			if e := isFormatError(err); e != nil {
				t.Fatalf("%s cut at %d: %v", name, i, e)
			}
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("%s cut at %d: got %v; want it to wrap io.ErrUnexpectedEOF", name, i, err)
			}
		}
	}
}
