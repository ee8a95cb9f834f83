package crashtest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nardedup/nardedup/internal/nixtest"
	"github.com/nardedup/nardedup/internal/sample"
	"github.com/nardedup/nardedup/narfmt/narinfo"
	"github.com/nardedup/nardedup/narfmt/storepath"
	"github.com/nardedup/nardedup/repo/layout"
)

// TestCrashDuringNamesUpgrade kills "nardedup upgrade --names" at seeded
// random moments on copies of a repository whose NARs have no names
// objects and no names-complete marker, as an earlier release left it.
// After every kill the marker, if written, must be true: every narinfo's
// NAR has its names object, since ingest then dedups by names by
// default. Run again, the upgrade finishes and writes the marker.
func TestCrashDuringNamesUpgrade(t *testing.T) {
	h := &harness{t: t, seed: seed(t), work: t.TempDir(), timeout: 2 * time.Minute}
	trials := trialCount(12, 6)
	if testing.Short() {
		dir, err := sample.WriteBucket(filepath.Join(h.work, "bucket"))
		if err != nil {
			t.Fatal(err)
		}
		h.source = dir
	} else {
		h.source = filepath.Join(nixtest.Corpus(t, "small", 3), "bucket")
	}
	t.Logf("crashtest names upgrade: seed %d (rerun with -crashtest.seed=%d or NARDEDUP_CRASH_SEED=%d), %d trials, source %s",
		h.seed, h.seed, h.seed, trials, h.source)
	h.build()

	base := h.newRepo("names-base")
	if res := h.command(-1, "ingest", "--repo", base.dir, "--index-cache", base.cache, "--dedup", "index", h.source); res.err != nil {
		t.Fatalf("ingest: %v\n%s", res.err, res.out)
	}
	for _, sub := range []string{layout.Names.Prefix(), layout.NamesComplete.Prefix()} {
		if err := os.RemoveAll(filepath.Join(base.dir, filepath.FromSlash(sub))); err != nil {
			t.Fatal(err)
		}
	}
	if missing := namesMissing(t, base.dir); len(missing) == 0 {
		t.Fatal("the base repository has every names object: nothing to upgrade")
	}

	// Killed, with afterFormat >= 0, that long after it reported the
	// format step done: its names pass follows.
	upgrade := func(r *repo, afterFormat time.Duration) (run, time.Duration) {
		return h.commandWatched([]string{"upgrade", "--names", "--repo", r.dir, "--index-cache", r.cache}, false, "format ", -1, afterFormat)
	}
	ref := copyRepo(h, base, "names-reference")
	res, refFormat := upgrade(ref, -1)
	if res.err != nil {
		t.Fatalf("reference upgrade: %v\n%s", res.err, res.out)
	}
	if !marked(ref.dir) || len(namesMissing(t, ref.dir)) > 0 {
		t.Fatalf("reference upgrade: marked %v, names missing for %v", marked(ref.dir), namesMissing(t, ref.dir))
	}
	// The names pass follows the format step: the kills land after it.
	refDur := res.dur - refFormat

	all := len(namesMissing(t, base.dir))
	var landed, unmarked, midPass int
	for i := range trials {
		rng := rand.New(rand.NewPCG(h.seed, 0x6e616d65+uint64(i)))
		r := copyRepo(h, base, fmt.Sprintf("names-%d", i))
		res, _ := upgrade(r, time.Duration(rng.Float64()*float64(refDur)))
		if res.killed {
			landed++
		}
		if n := len(namesMissing(t, r.dir)); res.killed && n > 0 && n < all {
			midPass++
		}
		if marked(r.dir) {
			if missing := namesMissing(t, r.dir); len(missing) > 0 {
				t.Errorf("trial %d (killed %v): marked names-complete, but no names object for %v\n%s", i, res.killed, missing, res.out)
			}
		} else {
			unmarked++
			if !res.killed {
				t.Errorf("trial %d: upgrade ended without the marker: %v\n%s", i, res.err, res.out)
			}
		}
		if res, _ := upgrade(r, -1); res.err != nil || !marked(r.dir) || len(namesMissing(t, r.dir)) > 0 {
			t.Errorf("trial %d: upgrade run again: %v, marked %v, names missing for %v\n%s",
				i, res.err, marked(r.dir), namesMissing(t, r.dir), res.out)
		}
	}
	t.Logf("crashtest names upgrade summary: seed %d, %d trials, %d kills landed mid-run, %d of them with some names objects written, %d left no marker; reference upgrade %s",
		h.seed, trials, landed, midPass, unmarked, refDur.Round(time.Millisecond))
}

// copyRepo copies the repository base (not its index cache) to a new one.
func copyRepo(h *harness, base *repo, name string) *repo {
	r := h.newRepo(name)
	copyTree(h.t, base.dir, r.dir)
	return r
}

// marked reports whether the repository in dir has the names-complete
// marker.
func marked(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, filepath.FromSlash(layout.Key(layout.NamesComplete, ""))))
	return err == nil
}

// namesMissing lists the store paths of the repository in dir whose NAR
// has no names object.
func namesMissing(t *testing.T, dir string) []string {
	t.Helper()
	vis, err := visible(dir)
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	for hash := range vis {
		text, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(layout.NarInfoOf(hash).Key())))
		if err != nil {
			t.Fatal(err)
		}
		ni, err := narinfo.Parse(bytes.NewReader(text))
		if err != nil {
			t.Fatalf("narinfo %s: %v", hash, err)
		}
		sum, err := ni.NarSHA256()
		if err != nil {
			t.Fatalf("narinfo %s: %v", hash, err)
		}
		p, err := storepath.ParseBase(filepath.Base(ni.StorePath))
		if err != nil {
			t.Fatalf("narinfo %s: %v", hash, err)
		}
		key := layout.NameOf(storepath.PackageName(p.Name), sum).Key()
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(key))); err != nil {
			missing = append(missing, ni.StorePath)
		}
	}
	return missing
}
