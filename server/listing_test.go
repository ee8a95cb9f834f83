package server_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/internal/nixtest"
	"github.com/nardedup/nardedup/internal/sample"
	"github.com/nardedup/nardedup/narfmt"
	"github.com/nardedup/nardedup/narfmt/storepath"
	"github.com/nardedup/nardedup/server"
)

// treeNAR returns a NAR with a node of every kind, and the contents of its
// regular files by path.
func treeNAR(t *testing.T) ([]byte, map[string]string) {
	t.Helper()
	files := map[string]string{"/bin/hello": "#!/bin/sh\necho hi\n", "/empty-file": "", "/share/doc/a.txt": "text\n"}
	var b bytes.Buffer
	w := narfmt.NewWriter(&b)
	for _, h := range []narfmt.Header{
		{Path: "/", Type: narfmt.TypeDirectory},
		{Path: "/bin", Type: narfmt.TypeDirectory},
		{Path: "/bin/hello", Type: narfmt.TypeRegular, Executable: true},
		{Path: "/empty", Type: narfmt.TypeDirectory},
		{Path: "/empty-file", Type: narfmt.TypeRegular},
		{Path: "/lib", Type: narfmt.TypeSymlink, LinkTarget: "bin"},
		{Path: "/share", Type: narfmt.TypeDirectory},
		{Path: "/share/doc", Type: narfmt.TypeDirectory},
		{Path: "/share/doc/a.txt", Type: narfmt.TypeRegular},
	} {
		h.Size = int64(len(files[h.Path]))
		check(t, w.WriteHeader(&h))
		_, err := io.WriteString(w, files[h.Path])
		check(t, err)
	}
	check(t, w.Close())
	return b.Bytes(), files
}

func TestListing(t *testing.T) {
	f, _, _ := newFake(t)
	nar, files := treeNAR(t)
	h := narfmt.Hash(sha256.Sum256(nar))
	const hash = "2c2wd7rkrsp80vm543fsga2n0vzgs345"
	f.nars[h] = nar
	f.narinfos[hash] = fmt.Sprintf("StorePath: /nix/store/%s-tree\nURL: nar/x.nar\nCompression: none\nNarHash: sha256:%s\nNarSize: %d\nReferences: \n",
		hash, h, len(nar))
	srv := server.New(f, server.Options{Logger: quiet})

	rec := do(srv, "GET", "/"+hash+".ls")
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET .ls: got %d, %s; want 200, application/json\n%s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	body := rec.Body.String()
	var got struct {
		Version int
		Root    lsEntry
	}
	check(t, json.Unmarshal(rec.Body.Bytes(), &got))
	// Offsets are checked against the NAR, then left out of the comparison.
	offsets := 0
	var walk func(p string, e *lsEntry)
	walk = func(p string, e *lsEntry) {
		if e.Type == "regular" {
			content := nar[e.NarOffset : e.NarOffset+*e.Size]
			if string(content) != files[p] {
				t.Errorf("%s: narOffset %d, size %d give %q; want %q", p, e.NarOffset, *e.Size, content, files[p])
			}
			e.NarOffset = 0
			offsets++
		}
		for name, c := range e.Entries {
			walk(strings.TrimSuffix(p, "/")+"/"+name, c)
		}
	}
	walk("/", &got.Root)
	size := func(n int64) *int64 { return &n }
	want := lsEntry{Type: "directory", Entries: map[string]*lsEntry{
		"bin":        {Type: "directory", Entries: map[string]*lsEntry{"hello": {Type: "regular", Size: size(18), Executable: true}}},
		"empty":      {Type: "directory", Entries: map[string]*lsEntry{}},
		"empty-file": {Type: "regular", Size: size(0)},
		"lib":        {Type: "symlink", Target: "bin"},
		"share": {Type: "directory", Entries: map[string]*lsEntry{"doc": {Type: "directory", Entries: map[string]*lsEntry{
			"a.txt": {Type: "regular", Size: size(5)}}}}},
	}}
	if got.Version != 1 || !reflect.DeepEqual(got.Root, want) || offsets != 3 {
		t.Errorf("GET .ls: got %s", body)
	}
	// What Nix writes: an empty directory has its entries, a plain file
	// no "executable", an empty file its size.
	for _, s := range []string{`"empty":{"type":"directory","entries":{}}`, `"empty-file":{"type":"regular","size":0,`, `"lib":{"type":"symlink","target":"bin"}`} {
		if !strings.Contains(body, s) {
			t.Errorf("GET .ls: %s lacks %s", body, s)
		}
	}

	etag := rec.Header().Get("ETag")
	if rec := doWith(srv, "GET", "/"+hash+".ls", "If-None-Match", etag); rec.Code != 304 {
		t.Errorf("GET .ls with If-None-Match: got %d; want 304", rec.Code)
	}
	for _, p := range []string{"/" + missingHash + ".ls", "/" + strings.Repeat("0", 32) + ".ls", "/x.ls"} {
		if rec := do(srv, "GET", p); rec.Code != 404 {
			t.Errorf("GET %s: got %d; want 404", p, rec.Code)
		}
	}
	f.nars[h] = nar[:len(nar)-8]
	if rec := do(srv, "GET", "/"+hash+".ls"); rec.Code != 500 {
		t.Errorf("GET .ls of a truncated NAR: got %d; want 500", rec.Code)
	}
}

// lsEntry decodes a node of a listing, keys sorted as Go sorts them.
type lsEntry struct {
	Type       string              `json:"type"`
	Size       *int64              `json:"size"`
	Executable bool                `json:"executable"`
	NarOffset  int64               `json:"narOffset"`
	Entries    map[string]*lsEntry `json:"entries"`
	Target     string              `json:"target"`
}

// TestNixListing compares the server's listings with those Nix writes to
// a binary cache with write-nar-listing, and `nix store ls` over the server
// with `nix store ls` over a local store holding the same paths. (Nix reads
// .ls files only from its local NAR cache, so the second comparison checks
// the NARs Nix lists, the first the listings.)
func TestNixListing(t *testing.T) {
	nixtest.Require(t)
	opts, log := loggingOptions()
	ts := newRepo(t).serve(t, opts)
	paths := samplePaths()
	root, out, err := nixCopy(t, ts.URL, sample.PublicKey(), paths)
	if err != nil {
		t.Fatalf("nix copy --from %s: %v\n%s\nserver log:\n%s", ts.URL, err, out, log)
	}
	dir := t.TempDir()
	env := nixtest.Env(dir)
	cache := filepath.Join(dir, "bincache")
	nixtest.Run(t, env, nil, "nix", append([]string{"copy", "--store", root, "--to", "file://" + cache + "?write-nar-listing=true"}, paths...)...)
	for _, p := range paths {
		sp, err := storepath.Parse("/nix/store", p)
		check(t, err)
		ours := nixtest.Get(t, ts.URL+"/"+sp.Hash+".ls")
		theirs, err := os.ReadFile(filepath.Join(cache, sp.Hash+".ls"))
		check(t, err)
		var a, b any
		check(t, json.Unmarshal(ours, &a))
		check(t, json.Unmarshal(theirs, &b))
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: listing\n%s\nwant what Nix writes\n%s", p, ours, theirs)
		}
		local := nixtest.Run(t, env, nil, "nix", "store", "ls", "--store", root, "-lR", p)
		remote := nixtest.Run(t, env, nil, "nix", "store", "ls", "--store", ts.URL, "-lR", p)
		if !bytes.Equal(local, remote) || len(local) == 0 {
			t.Errorf("%s: nix store ls over the server:\n%s\nover a local store:\n%s", p, remote, local)
		}
	}
}
