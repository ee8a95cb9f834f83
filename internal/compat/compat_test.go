package compat_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/nardedup/nardedup/admin"
	"github.com/nardedup/nardedup/chunkstore/backend/local"
	"github.com/nardedup/nardedup/internal/nixtest"
	"github.com/nardedup/nardedup/internal/sample"
	"github.com/nardedup/nardedup/narfmt"
	"github.com/nardedup/nardedup/narfmt/narinfo"
	"github.com/nardedup/nardedup/narfmt/signature"
	"github.com/nardedup/nardedup/narfmt/storepath"
	"github.com/nardedup/nardedup/narstore"
	"github.com/nardedup/nardedup/repo"
	"github.com/nardedup/nardedup/repo/layout"
	"github.com/nardedup/nardedup/server"
)

// copyRepoV1 copies testdata/repo-v1 to a temporary directory, so that
// nothing a test does can change the fixture, and returns the copy.
func copyRepoV1(t *testing.T) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "repo-v1")
	if err := os.CopyFS(dst, os.DirFS(filepath.Join(nixtest.RepoRoot(t), "testdata", "repo-v1"))); err != nil {
		t.Fatal(err)
	}
	return dst
}

// upstream returns the sample's narinfos by hash part: what the repository
// was made from, and so what it must give back.
func upstream(t *testing.T) map[string]*narinfo.NarInfo {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(nixtest.RepoRoot(t), "testdata", "sample", "bucket", "*.narinfo"))
	if err != nil {
		t.Fatal(err)
	}
	nis := make(map[string]*narinfo.NarInfo)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ni, err := narinfo.Parse(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		nis[strings.TrimSuffix(filepath.Base(f), ".narinfo")] = ni
	}
	if len(nis) == 0 {
		t.Fatal("the sample has no narinfos")
	}
	return nis
}

// distinctNARs returns the number of distinct NARs of nis.
func distinctNARs(nis map[string]*narinfo.NarInfo) int {
	seen := make(map[string]bool)
	for _, ni := range nis {
		seen[ni.NarHash] = true
	}
	return len(seen)
}

func sampleKeys(t *testing.T) []signature.PublicKey {
	t.Helper()
	keys, err := signature.ParsePublicKeys(sample.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// open opens the NAR store of the repository in dir (see openRepo).
func open(t *testing.T, dir string) *narstore.Store {
	t.Helper()
	return openRepo(t, dir).NARs()
}

// openRepo opens the repository in dir with a fresh local index; it is
// closed when the test ends.
func openRepo(t *testing.T, dir string) *repo.Repo {
	t.Helper()
	ctx := context.Background()
	be, err := local.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Close() })
	rp, err := repo.Open(ctx, be, repo.Options{IndexCache: t.TempDir(), Role: "compat"})
	if err != nil {
		t.Fatalf("open repo-v1: %v", err)
	}
	t.Cleanup(func() { rp.Close() })
	return rp
}

func TestRepoV1Verify(t *testing.T) {
	want := upstream(t)
	st := open(t, copyRepoV1(t))
	ctx := context.Background()

	res, err := admin.VerifySigned(ctx, st, sampleKeys(t), nil)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	for _, d := range res.Damaged {
		t.Errorf("verify: %s", d)
	}
	if res.NARs != distinctNARs(want) {
		t.Errorf("verify checked %d NARs; want %d", res.NARs, distinctNARs(want))
	}

	// A key of the same name that did not sign the narinfos: every store
	// path must fail, or the check above proved nothing of the signatures.
	name, _, _ := strings.Cut(sample.PublicKey(), ":")
	_, wrong, err := signature.GenerateKey(name, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	res, err = admin.VerifySigned(ctx, st, []signature.PublicKey{wrong}, nil)
	if err != nil {
		t.Fatalf("verify with a wrong key: %v", err)
	}
	if len(res.Damaged) != len(want) {
		t.Errorf("verify with a wrong key: %d store paths damaged; want all %d", len(res.Damaged), len(want))
	}
}

func TestRepoV1Stats(t *testing.T) {
	want := upstream(t)
	dir := copyRepoV1(t)
	s, err := admin.Summarize(context.Background(), openRepo(t, dir))
	if err != nil {
		t.Fatalf("stats: %v", err)
	}
	var narBytes, fileBytes int64
	for _, ni := range want {
		narBytes += int64(ni.NarSize)
		fileBytes += int64(ni.FileSize)
	}
	if s.NarInfos != len(want) || s.UniqueNARs != distinctNARs(want) || s.NarBytes != narBytes || s.FileBytes != fileBytes {
		t.Errorf("stats: %d narinfos, %d distinct NARs, %d NAR bytes, %d file bytes; want %d, %d, %d, %d",
			s.NarInfos, s.UniqueNARs, s.NarBytes, s.FileBytes, len(want), distinctNARs(want), narBytes, fileBytes)
	}
	// Every object of the fixture, counted by kind as stats counts them.
	files := make(map[string]admin.Objects)
	err = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		kind, _, _ := strings.Cut(filepath.ToSlash(rel), "/")
		o := files[kind]
		o.Count++
		o.Bytes += fi.Size()
		files[kind] = o
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for kind, o := range files {
		if s.Objects[kind] != o {
			t.Errorf("stats: %s: %+v; want %+v", kind, s.Objects[kind], o)
		}
	}
}

func TestRepoV1Serve(t *testing.T) {
	want := upstream(t)
	keys := sampleKeys(t)
	st := open(t, copyRepoV1(t))
	dec, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	for _, compression := range []string{"none", "zstd"} {
		log := slog.New(slog.NewTextHandler(t.Output(), nil))
		ts := httptest.NewServer(server.New(st, server.Options{Compression: compression, Logger: log}))
		defer ts.Close()
		for hash, up := range want {
			t.Run(compression+"/"+hash, func(t *testing.T) {
				ni, err := narinfo.Parse(bytes.NewReader(nixtest.Get(t, ts.URL+"/"+hash+".narinfo")))
				if err != nil {
					t.Fatalf("served narinfo: %v", err)
				}
				if ni.StorePath != up.StorePath || ni.NarHash != up.NarHash || ni.NarSize != up.NarSize ||
					!slices.Equal(ni.References, up.References) || !slices.Equal(ni.Sigs, up.Sigs) {
					t.Errorf("served narinfo differs from the sample's:\n%s\nwant\n%s", ni, up)
				}
				if err := ni.Verify(keys); err != nil {
					t.Errorf("served narinfo: %v", err)
				}
				nar := nixtest.Get(t, ts.URL+"/"+ni.URL)
				if ni.Compression == "zstd" {
					if nar, err = dec.DecodeAll(nar, nil); err != nil {
						t.Fatalf("served NAR %s: %v", ni.URL, err)
					}
				}
				sum, err := up.NarSHA256()
				if err != nil {
					t.Fatal(err)
				}
				if uint64(len(nar)) != up.NarSize || sha256.Sum256(nar) != sum {
					t.Errorf("served NAR %s: %d bytes that do not hash to %s; want %d that do", ni.URL, len(nar), up.NarHash, up.NarSize)
				}
			})
		}
	}
}

// TestRepoV1Command has the nardedup command verify the repository, print
// its statistics and serve it, and real Nix copy every store path of the
// sample from it when Nix is installed.
func TestRepoV1Command(t *testing.T) {
	want := upstream(t)
	bin := nixtest.Nardedup(t)
	common := []string{"--repo", copyRepoV1(t), "--index-cache", t.TempDir()}
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, append(args, common...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("nardedup %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	out := run("verify", "--trusted-public-keys", sample.PublicKey())
	if !strings.Contains(out, fmt.Sprintf("verified %d NARs", distinctNARs(want))) || !strings.Contains(out, " 0 store paths damaged") {
		t.Errorf("nardedup verify:\n%s\nwant %d NARs verified, none damaged", out, distinctNARs(want))
	}
	out = run("stats")
	if !strings.Contains(out, fmt.Sprintf("store paths: %d,", len(want))) {
		t.Errorf("nardedup stats:\n%s\nwant %d store paths", out, len(want))
	}

	t.Run("nix copy", func(t *testing.T) {
		nixtest.Require(t)
		var paths []string
		for _, ni := range want {
			paths = append(paths, ni.StorePath)
		}
		slices.Sort(paths)
		nixtest.Copy(t, nixtest.Serve(t, bin, nil, common...), sample.PublicKey(), paths)
	})

	out = run("upgrade")
	if !strings.Contains(out, fmt.Sprintf("format 1 -> %d", repo.FormatVersion)) {
		t.Errorf("nardedup upgrade:\n%s", out)
	}
	t.Run("nix copy after upgrade", func(t *testing.T) {
		nixtest.Require(t)
		var paths []string
		for _, ni := range want {
			paths = append(paths, ni.StorePath)
		}
		slices.Sort(paths)
		nixtest.Copy(t, nixtest.Serve(t, bin, nil, common...), sample.PublicKey(), paths)
	})
}

// TestRepoV1Upgrade upgrades a copy of the repository in place, resuming
// a run that had rewritten some manifests, and then reads every NAR back
// without a local index.
func TestRepoV1Upgrade(t *testing.T) {
	ctx := context.Background()
	want := upstream(t)
	dir := copyRepoV1(t)
	be, err := local.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()

	// A run stopped after rewriting one manifest.
	first := openRepo(t, dir)
	var some narfmt.Hash
	for _, ni := range want {
		if some, err = ni.NarSHA256(); err != nil {
			t.Fatal(err)
		}
		break
	}
	if did, err := first.NARs().AddLocations(ctx, some); err != nil || !did {
		t.Fatalf("AddLocations: %v, %v", did, err)
	}

	opts := repo.Options{IndexCache: t.TempDir(), Role: "upgrade"}
	res, err := repo.Upgrade(ctx, be, opts, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	nars := distinctNARs(want)
	if res.From != 1 || res.To != repo.FormatVersion || res.Manifests < nars || res.Rewritten != nars-1 {
		t.Errorf("upgrade: %+v; want 1 -> %d, %d manifests rewritten", res, repo.FormatVersion, nars-1)
	}
	if cfg, err := repo.LoadConfig(ctx, be); err != nil || cfg.Version != repo.FormatVersion {
		t.Fatalf("config after upgrade: version %d, %v", cfg.Version, err)
	}
	if res, err := repo.Upgrade(ctx, be, opts, t.Logf); err != nil || res.Rewritten != 0 {
		t.Errorf("second upgrade: %+v, %v; want nothing rewritten", res, err)
	}

	rp, err := repo.Open(ctx, be, repo.Options{ReadOnly: true, IndexCache: t.TempDir(), Role: "serve"})
	if err != nil {
		t.Fatal(err)
	}
	defer rp.Close()
	if rp.Chunks().HasIndex() {
		t.Error("server of the upgraded repository keeps a local index")
	}
	for hash, ni := range want {
		sum, err := ni.NarSHA256()
		if err != nil {
			t.Fatal(err)
		}
		rc, _, err := rp.NARs().Open(ctx, sum)
		if err != nil {
			t.Fatalf("%s: %v", hash, err)
		}
		h := sha256.New()
		n, err := io.Copy(h, rc)
		rc.Close()
		if err != nil || uint64(n) != ni.NarSize || !bytes.Equal(h.Sum(nil), sum[:]) {
			t.Errorf("%s: %d bytes, %v; want the NAR of %d bytes", hash, n, err, ni.NarSize)
		}
	}
}

// TestRepoV1AddNames records the NARs of the repository, stored before
// names objects existed, under their package names, once: a second run
// writes none, and a names ingest would find every one. The repository,
// unmarked, is then marked names-complete.
func TestRepoV1AddNames(t *testing.T) {
	ctx := context.Background()
	want := upstream(t)
	dir := copyRepoV1(t)
	be, err := local.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	opts := repo.Options{IndexCache: t.TempDir(), Role: "upgrade"}
	if ok, err := repo.NamesComplete(ctx, be); ok || err != nil {
		t.Fatalf("repository v1 names-complete: %v, %v; want false", ok, err)
	}
	res, err := repo.AddNames(ctx, be, opts, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := repo.NamesComplete(ctx, be); !ok || err != nil {
		t.Errorf("names-complete after AddNames: %v, %v; want true", ok, err)
	}
	names := map[string]bool{}
	for _, ni := range want {
		sum, err := ni.NarSHA256()
		if err != nil {
			t.Fatal(err)
		}
		p, err := storepath.Parse(storepath.DefaultStoreDir, ni.StorePath)
		if err != nil {
			t.Fatal(err)
		}
		key := layout.NameOf(storepath.PackageName(p.Name), sum).Key()
		names[key] = true
		if _, err := be.Stat(ctx, key); err != nil {
			t.Errorf("%s: no names object after AddNames: %v", ni.StorePath, err)
		}
	}
	// Store paths of one package sharing a NAR may both write its names
	// object when read at once.
	if res.NarInfos != len(want) || res.Names < len(names) || res.Names > len(want) {
		t.Errorf("AddNames: %d narinfos read, %d names written; want %d, %d-%d", res.NarInfos, res.Names, len(want), len(names), len(want))
	}
	if res, err := repo.AddNames(ctx, be, opts, t.Logf); err != nil || res.Names != 0 {
		t.Errorf("second AddNames: %+v, %v; want no names written", res, err)
	}
}
