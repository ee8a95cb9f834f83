package crashtest

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

var verifiedRE = regexp.MustCompile(`(?m)^verified (\d+) NARs \(.*\) of \d+ store paths, (\d+) store paths damaged$`)

// verify runs "nardedup verify" and returns the NARs it rebuilt and the
// number of damaged ones.
func (h *harness) verify(r *repo) (nars, damaged int, out string, err error) {
	h.sum.verifies++
	res := h.command(-1, "verify", "--repo", r.dir, "--index-cache", r.cache)
	m := verifiedRE.FindStringSubmatch(res.out)
	if m == nil {
		if res.err == nil {
			res.err = errors.New("no verified line in the output")
		}
		return 0, 0, res.out, res.err
	}
	nars, _ = strconv.Atoi(m[1])
	damaged, _ = strconv.Atoi(m[2])
	h.sum.damaged += damaged
	return nars, damaged, res.out, res.err
}

var statsRE = regexp.MustCompile(`(?m)^store paths: (\d+), distinct NARs (\d+) `)

// stats runs "nardedup stats" and returns the store paths it counts.
func (h *harness) stats(r *repo) (int, string, error) {
	res := h.command(-1, "stats", "--repo", r.dir, "--index-cache", r.cache)
	if res.err != nil {
		return 0, res.out, res.err
	}
	m := statsRE.FindStringSubmatch(res.out)
	if m == nil {
		return 0, res.out, errors.New("no store paths line in the output")
	}
	n, _ := strconv.Atoi(m[1])
	return n, res.out, nil
}

// visible lists the store path hashes whose narinfo object exists.
// Temporary files are not objects; anything else in narinfo/ is an error.
func visible(dir string) (map[string]bool, error) {
	entries, err := os.ReadDir(filepath.Join(dir, "narinfo"))
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]bool{}, nil
	}
	if err != nil {
		return nil, err
	}
	vis := make(map[string]bool)
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, tempPrefix) {
			continue
		}
		hash, ok := strings.CutSuffix(name, ".narinfo")
		if !ok || len(hash) != 32 || !e.Type().IsRegular() {
			return nil, fmt.Errorf("unexpected entry narinfo/%s", name)
		}
		vis[hash] = true
	}
	return vis, nil
}

// tempFiles lists the temporary files under dir, relative to it.
func tempFiles(dir string) []string {
	var found []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), tempPrefix) {
			rel, _ := filepath.Rel(dir, p)
			found = append(found, rel)
		}
		return nil
	})
	return found
}

// plantTemp leaves temporary files that look like a torn Put in every
// object directory of r: a truncated copy of a real object of that
// directory, and an empty one.
func (h *harness) plantTemp(r *repo, rng *rand.Rand) int {
	n := 0
	for _, sub := range []string{"narinfo", "manifests", "index", "packs"} {
		dir := filepath.Join(r.dir, sub)
		var sampleObj string
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() && !strings.HasPrefix(d.Name(), tempPrefix) && sampleObj == "" {
				sampleObj = p
			}
			return nil
		})
		if sampleObj == "" {
			continue
		}
		data, err := os.ReadFile(sampleObj)
		if err != nil {
			h.t.Fatal(err)
		}
		data = data[:len(data)/2]
		into := filepath.Dir(sampleObj)
		for _, content := range [][]byte{data, nil} {
			name := filepath.Join(into, fmt.Sprintf("%s%016x", tempPrefix, rng.Uint64()))
			if err := os.WriteFile(name, content, 0o644); err != nil {
				h.t.Fatal(err)
			}
			n++
		}
	}
	return n
}

// afterKill checks a repository whose ingest was just killed (or ended):
// every visible narinfo is the upstream one and verifies, no store path
// that was visible before went away, and temporary files are not counted as
// objects. It returns the number of visible paths.
// resumed says whether the run resumed an earlier killed one.
