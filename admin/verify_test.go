package admin_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/nardedup/nardedup/admin"
	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/local"
	"github.com/nardedup/nardedup/chunkstore/pack"
	"github.com/nardedup/nardedup/ingest"
	"github.com/nardedup/nardedup/internal/sample"
	"github.com/nardedup/nardedup/internal/testrepo"
	"github.com/nardedup/nardedup/narfmt/narinfo"
	"github.com/nardedup/nardedup/repo"
	"github.com/nardedup/nardedup/repo/layout"
	"github.com/nardedup/nardedup/source"
)

// flipByte flips a byte of an object, off bytes from its end.
func flipByte(t *testing.T, be backend.Backend, key string, off int) {
	t.Helper()
	ctx := context.Background()
	data, err := backend.ReadAll(ctx, be, key)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-off] ^= 0x20
	if err := backend.PutBytes(ctx, be, key, data); err != nil {
		t.Fatal(err)
	}
}

// VerifyPacks names a pack whose own table of contents is damaged, and
// one whose index object differs from it, which reading the NARs does not
// notice.
func TestVerifyPacks(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	bucket, err := sample.WriteBucket(filepath.Join(dir, "bucket"))
	if err != nil {
		t.Fatal(err)
	}
	be, err := local.Open(filepath.Join(dir, "repo"))
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	cfg := repo.DefaultConfig()
	cfg.Chunks.Chunker.MinSize = 512
	cfg.Chunks.Chunker.AvgBits = 11
	cfg.Chunks.Chunker.MaxSize = 8 << 10
	cfg.Chunks.GroupSize = 24 << 10
	cfg.Chunks.PackSize = 96 << 10 // several packs
	rp := testrepo.Open(t, be, cfg, filepath.Join(dir, "index.db"))
	if _, err := ingest.Run(ctx, source.NewDir(bucket), rp, ingest.Options{}); err != nil {
		t.Fatal(err)
	}
	cs := rp.Chunks()
	res, err := admin.VerifyPacks(ctx, cs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Packs < 2 || len(res.Damaged) != 0 {
		t.Fatalf("intact repository: checked %d packs, damaged %v", res.Packs, res.Damaged)
	}
	// Ingest writes zstd frames only, at least one a pack.
	if n := res.Frames[pack.CodecZstd]; len(res.Frames) != 1 || n.Frames < res.Packs || n.Bytes <= 0 {
		t.Errorf("frames by codec %v of %d packs; want zstd ones only", res.Frames, res.Packs)
	}
	if s := res.FrameSummary(); !strings.HasPrefix(s, fmt.Sprintf("%d zstd (", res.Frames[pack.CodecZstd].Frames)) {
		t.Errorf("frame summary %q", s)
	}
	var packs []chunkstore.ID
	if err := cs.Packs(func(id chunkstore.ID) error { packs = append(packs, id); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(packs) < 2 {
		t.Fatalf("the sample fills %d packs; want 2", len(packs))
	}
	flipByte(t, be, chunkstore.PackKey(packs[0]), pack.TrailerSize+3) // in the table
	flipByte(t, be, chunkstore.IndexKey(packs[1]), 3)
	nars, err := admin.Verify(ctx, rp.NARs(), nil)
	if err != nil || len(nars.Damaged) != 0 {
		t.Fatalf("reading the NARs: %v, damaged %v; want no damage seen", err, nars.Damaged)
	}
	res, err = admin.VerifyPacks(ctx, cs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Damaged) != 2 {
		t.Fatalf("damaged %v; want packs %s and %s", res.Damaged, packs[0], packs[1])
	}
	for _, d := range res.Damaged {
		if (d.Pack != packs[0] && d.Pack != packs[1]) || !strings.Contains(d.String(), d.Pack.String()) {
			t.Errorf("damaged %s: %v; want packs %s and %s, named", d.Pack, d, packs[0], packs[1])
		}
	}
}

// Verify counts store paths and NARs apart: two store paths sharing a NAR
// are two store paths and one NAR, and a damaged NAR damages every store
// path that uses it.
func TestVerifyCountsStorePathsAndNARs(t *testing.T) {
	ctx := context.Background()
	be, rp, _ := testrepo.Sample(t)
	st := rp.NARs()
	var hashes []string
	if err := st.ListNarInfos(ctx, func(h string) error { hashes = append(hashes, h); return nil }); err != nil {
		t.Fatal(err)
	}
	narOf := make(map[string]*narinfo.NarInfo)
	nars := make(map[string]bool)
	var text []byte
	for _, h := range hashes {
		b, err := st.NarInfo(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		ni, err := narinfo.ParseStoreDir(bytes.NewReader(b), st.StoreDir())
		if err != nil {
			t.Fatal(err)
		}
		narOf[h], nars[ni.NarHash], text = ni, true, b
	}
	// One more store path with the NAR of the last one.
	last := hashes[len(hashes)-1]
	twin := strings.Repeat("0", 32)
	text = regexp.MustCompile(`(?m)^StorePath: (.*)/`+last).ReplaceAll(text, []byte("StorePath: $1/"+twin))
	sum, err := narOf[last].NarSHA256()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutNarInfo(ctx, twin, sum, text); err != nil {
		t.Fatal(err)
	}

	res, err := admin.Verify(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StorePaths != len(hashes)+1 || res.NARs != len(nars) || len(res.Damaged) != 0 {
		t.Fatalf("got %d store paths, %d NARs, %d damaged; want %d, %d, 0",
			res.StorePaths, res.NARs, len(res.Damaged), len(hashes)+1, len(nars))
	}

	if err := be.Delete(ctx, layout.ManifestOf(sum).Key()); err != nil {
		t.Fatal(err)
	}
	res, err = admin.Verify(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StorePaths != len(hashes)+1 || res.NARs != len(nars)-1 || len(res.Damaged) != 2 {
		t.Errorf("got %d store paths, %d NARs, %d damaged; want %d, %d, 2",
			res.StorePaths, res.NARs, len(res.Damaged), len(hashes)+1, len(nars)-1)
	}
	for _, want := range []string{"store paths, 2 store paths damaged", "NARs ("} {
		if !strings.Contains(res.String(), want) {
			t.Errorf("summary %q lacks %q", res, want)
		}
	}
}

// Entries under narinfo/ that listing skips (symlinks, FIFOs,
// directories) are reported, each by name and kind.
func TestIrregularNarInfos(t *testing.T) {
	be, _, _ := testrepo.Sample(t)
	dir := filepath.Join(be.Dir(), "narinfo")
	must(t, os.Symlink("elsewhere", filepath.Join(dir, "link.narinfo")))
	must(t, syscall.Mkfifo(filepath.Join(dir, "fifo.narinfo"), 0o644))
	must(t, os.Mkdir(filepath.Join(dir, "dir.narinfo"), 0o755))
	got, err := admin.Irregular(be)
	must(t, err)
	want := []string{"dir.narinfo: a directory", "fifo.narinfo: a FIFO", "link.narinfo: a symlink"}
	if len(got) != len(want) {
		t.Fatalf("got %q; want %d entries", got, len(want))
	}
	for i, w := range want {
		if !strings.Contains(got[i], "narinfo/"+w) {
			t.Errorf("got %q; want it to contain %q", got[i], w)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
