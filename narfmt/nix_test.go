package narfmt_test

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/internal/nixtest"
	"github.com/nardedup/nardedup/narfmt"
)

// makeTree fills dir with every kind of entry nix-store --dump handles.
func makeTree(t *testing.T, dir string) {
	t.Helper()
	big := make([]byte, 5<<20+3)
	for i := range big {
		big[i] = byte(i*7 + i>>10)
	}
	deep := filepath.Join(dir, strings.Repeat("d/", 40))
	files := map[string]string{
		"a":                         "hello\n",
		"empty":                     "",
		"seven--":                   "1234567",
		"eight---":                  "12345678",
		"nine-----":                 "123456789",
		"sub/x":                     "x",
		"sub/y.txt":                 "yy",
		"odd name with spaces":      "s",
		"new\nline":                 "n",
		"tab\tand\x01ctl":           "c",
		"latin1-\xff\xfe":           "l",
		"ünïcödé-名前":                "u",
		"...":                       "dots",
		".hidden":                   "h",
		"-dash":                     "-",
		"back\\slash":               "b",
		strings.Repeat("n", 255):    "long name",
		"many/" + "placeholder":     "",
		filepath.Join("big", "big"): string(big),
	}
	for i := range 300 {
		files[filepath.Join("many", "f"+strings.Repeat("0", i%5)+string(rune('a'+i%26))+strconv.Itoa(i))] = strconv.Itoa(i)
	}
	for name, data := range files {
		p := filepath.Join(dir, name)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, []byte(data), 0o644))
	}
	must(t, os.MkdirAll(deep, 0o755))
	must(t, os.WriteFile(filepath.Join(deep, "bottom"), []byte("deep"), 0o644))
	must(t, os.MkdirAll(filepath.Join(dir, "emptydir"), 0o755))
	must(t, os.MkdirAll(filepath.Join(dir, "sub", "emptier"), 0o755))
	for name, data := range map[string]string{"bin/run": "#!/bin/sh\n", "bin/empty-exec": ""} {
		p := filepath.Join(dir, name)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, []byte(data), 0o755))
	}
	for name, target := range map[string]string{
		"link-rel":      "a",
		"link-abs":      "/nix/store/00000000000000000000000000000000-x/bin/sh",
		"link-dangling": "does/not/exist",
		"link-dir":      "sub",
		"sub/up":        "../a",
		"link-long":     strings.Repeat("t/", 1000),
		"link-odd":      "sp ace\nnl\xff",
	} {
		must(t, os.Symlink(target, filepath.Join(dir, name)))
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// walkTree lists a file system tree the way a NAR lists it.
func walkTree(t *testing.T, root string) []entry {
	t.Helper()
	var out []entry
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		e := entry{Header: narfmt.Header{Path: "/" + filepath.ToSlash(rel)}}
		if rel == "." {
			e.Path = "/"
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case info.Mode().IsRegular():
			e.Type = narfmt.TypeRegular
			e.Executable = info.Mode()&0o100 != 0
			e.Size = info.Size()
			if e.Data, err = os.ReadFile(p); err != nil {
				return err
			}
		case info.IsDir():
			e.Type = narfmt.TypeDirectory
		case info.Mode()&fs.ModeSymlink != 0:
			e.Type = narfmt.TypeSymlink
			if e.LinkTarget, err = os.Readlink(p); err != nil {
				return err
			}
		default:
			t.Fatalf("unexpected file type %v at %s", info.Mode(), p)
		}
		out = append(out, e)
		return nil
	})
	must(t, err)
	return out
}

func nixDump(t *testing.T, path string) []byte {
	t.Helper()
	out, err := exec.Command("nix-store", "--dump", path).Output()
	if err != nil {
		t.Fatalf("nix-store --dump %s: %v", path, err)
	}
	return out
}

func nixRestore(t *testing.T, nar []byte, path string) {
	t.Helper()
	cmd := exec.Command("nix-store", "--restore", path)
	cmd.Stdin = bytes.NewReader(nar)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nix-store --restore %s: %v\n%s", path, err, out)
	}
}

func compareEntries(t *testing.T, got, want []entry) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("got %d entries; want %d", len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("entry %d: got %v; want %v", i, got[i], want[i])
		}
	}
}

// nixTrees returns roots of the trees the conformance tests dump: a full
// tree and the single-node roots.
func nixTrees(t *testing.T) []string {
	base := t.TempDir()
	full := filepath.Join(base, "full")
	makeTree(t, full)
	must(t, os.WriteFile(filepath.Join(base, "file"), []byte("just a file\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(base, "exec"), []byte("#!/bin/sh\n"), 0o755))
	must(t, os.WriteFile(filepath.Join(base, "emptyfile"), nil, 0o644))
	must(t, os.Symlink("/dangling/target", filepath.Join(base, "symlink")))
	must(t, os.Mkdir(filepath.Join(base, "emptydir"), 0o755))
	var roots []string
	for _, n := range []string{"full", "file", "exec", "emptyfile", "symlink", "emptydir"} {
		roots = append(roots, filepath.Join(base, n))
	}
	return roots
}

// TestNixDump reads nix-store --dump output, checks it against the tree on
// disk, and checks that rewriting it reproduces it byte for byte.
func TestNixDump(t *testing.T) {
	nixtest.Require(t)
	for _, root := range nixTrees(t) {
		t.Run(filepath.Base(root), func(t *testing.T) {
			dump := nixDump(t, root)
			got, err := readAll(bytes.NewReader(dump), false)
			if err != nil {
				t.Fatalf("reading nix-store --dump output: %v", err)
			}
			compareEntries(t, got, walkTree(t, root))
			var out bytes.Buffer
			if err := rewrite(&out, bytes.NewReader(dump)); err != nil {
				t.Fatalf("rewrite: %v", err)
			}
			if !bytes.Equal(out.Bytes(), dump) {
				t.Fatalf("rewritten NAR differs from nix-store --dump: %s", firstDiff(out.Bytes(), dump))
			}
		})
	}
}

// TestNixRestore writes trees with Writer, restores them with
// nix-store --restore and compares the result with the original tree.
func TestNixRestore(t *testing.T) {
	nixtest.Require(t)
	out := t.TempDir()
	for _, root := range nixTrees(t) {
		t.Run(filepath.Base(root), func(t *testing.T) {
			want := walkTree(t, root)
			nar, err := writeAll(want)
			if err != nil {
				t.Fatalf("writing NAR: %v", err)
			}
			if dump := nixDump(t, root); !bytes.Equal(nar, dump) {
				t.Errorf("Writer output differs from nix-store --dump: %s", firstDiff(nar, dump))
			}
			dst := filepath.Join(out, filepath.Base(root))
			nixRestore(t, nar, dst)
			compareEntries(t, walkTree(t, dst), want)
		})
	}
}
