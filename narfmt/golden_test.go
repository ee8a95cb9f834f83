package narfmt_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/nardedup/nardedup/narfmt"
)

// The golden files in testdata were made with nix-store --dump (Nix 2.8).
var goldenFiles = []struct {
	file string
	want []entry
}{
	{"file.nar", []entry{
		reg("/", false, "single file contents\n"),
	}},
	{"symlink.nar", []entry{
		sym("/", "../some/where"),
	}},
	{"tree.nar", []entry{
		dir("/"),
		dir("/bin"),
		reg("/bin/hello", true, "#!/bin/sh\necho hello\n"),
		sym("/bin/hi", "hello"),
		dir("/empty-dir"),
		sym("/lib", "/nix/store/00000000000000000000000000000000-missing/lib"),
		dir("/share"),
		dir("/share/doc"),
		reg("/share/doc/README", false, "Hello docs.\n"),
		reg("/share/doc/empty", false, ""),
		reg("/share/eight", false, "exact8!!"),
	}},
	{"odd-names.nar", []entry{
		dir("/"),
		reg("/Z", false, "y"),
		reg("/a b", false, "x"),
		reg("/x.y", false, "q"),
		reg("/\u00e9", false, "z"),
	}},
}

func reg(path string, exec bool, data string) entry {
	return entry{Header: narfmt.Header{Path: path, Type: narfmt.TypeRegular, Executable: exec, Size: int64(len(data))}, Data: []byte(data)}
}

func dir(path string) entry {
	return entry{Header: narfmt.Header{Path: path, Type: narfmt.TypeDirectory}}
}

func sym(path, target string) entry {
	return entry{Header: narfmt.Header{Path: path, Type: narfmt.TypeSymlink, LinkTarget: target}}
}

// goldenNARs returns the contents of the golden files by name.
func goldenNARs(t testing.TB) map[string][]byte {
	t.Helper()
	out := make(map[string][]byte)
	for _, g := range goldenFiles {
		data, err := os.ReadFile(filepath.Join("testdata", g.file))
		if err != nil {
			t.Fatal(err)
		}
		out[g.file] = data
	}
	return out
}

func TestGolden(t *testing.T) {
	nars := goldenNARs(t)
	for _, g := range goldenFiles {
		t.Run(g.file, func(t *testing.T) {
			data := nars[g.file]
			got, err := readAll(bytes.NewReader(data), false)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			compareEntries(t, got, g.want)

			written, err := writeAll(g.want)
			if err != nil {
				t.Fatalf("write: %v", err)
			}
			if !bytes.Equal(written, data) {
				t.Errorf("Writer output differs from golden file: %s", firstDiff(written, data))
			}

			var out bytes.Buffer
			if err := rewrite(&out, bytes.NewReader(data)); err != nil {
				t.Fatalf("rewrite: %v", err)
			}
			if !bytes.Equal(out.Bytes(), data) {
				t.Errorf("rewritten NAR differs from golden file: %s", firstDiff(out.Bytes(), data))
			}
		})
	}
}
