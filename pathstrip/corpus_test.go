package pathstrip_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/nardedup/nardedup/internal/nixtest"
	"github.com/nardedup/nardedup/pathstrip"
)

var (
	corpusMu  sync.Mutex
	corpusNAR = map[string][]byte{} // narinfo path -> NAR bytes
)

// corpusGen returns the NARs of generation gen keyed by store path name (the
// part after "<hash>-").
func corpusGen(t testing.TB, dir string, gen int) map[string][]byte {
	t.Helper()
	list, err := os.ReadFile(filepath.Join(dir, "gen-"+string(rune('0'+gen))+".paths"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, p := range strings.Fields(string(list)) {
		base := filepath.Base(p)
		if len(base) < 34 {
			t.Fatalf("bad store path %q", p)
		}
		out[base[33:]] = loadNAR(t, filepath.Join(dir, "bucket", base[:32]+".narinfo"))
	}
	return out
}

func loadNAR(t testing.TB, narinfo string) []byte {
	t.Helper()
	corpusMu.Lock()
	defer corpusMu.Unlock()
	if b, ok := corpusNAR[narinfo]; ok {
		return b
	}
	info, err := os.ReadFile(narinfo)
	if err != nil {
		t.Fatal(err)
	}
	var url string
	for _, line := range strings.Split(string(info), "\n") {
		if v, ok := strings.CutPrefix(line, "URL: "); ok {
			url = v
		}
	}
	file := filepath.Join(filepath.Dir(narinfo), url)
	var b []byte
	switch {
	case strings.HasSuffix(url, ".xz"):
		b, err = exec.Command("xz", "-dc", file).Output()
	case strings.HasSuffix(url, ".zst"):
		b, err = exec.Command("zstd", "-dc", file).Output()
	default:
		b, err = os.ReadFile(file)
	}
	if err != nil {
		t.Fatalf("decompress %s: %v", file, err)
	}
	corpusNAR[narinfo] = b
	return b
}

func sortedNames(m map[string][]byte) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// TestCorpusRebuild checks, for every store path name in gen-1 and gen-2 of
// the small corpus, that the mass rebuild leaves residue and positions
// unchanged, and that every NAR round-trips.
func TestCorpusRebuild(t *testing.T) {
	if testing.Short() {
		t.Skip("corpus test in -short mode")
	}
	dir := nixtest.Corpus(t, "small", 3)
	common, changed := compareCorpusGens(t, corpusGen(t, dir, 1), corpusGen(t, dir, 2))
	if changed > 1 {
		t.Errorf("got %d store paths with changed contents; want at most 1 (the stdenv)", changed)
	}
	if common < 10 {
		t.Fatalf("got %d store paths common to gen-1 and gen-2; want at least 10", common)
	}
}

// TestCorpusBump does the same for gen-2 -> gen-3 (version bumps plus a
// mass rebuild): whatever changed beyond hashes is exempt.
func TestCorpusBump(t *testing.T) {
	if testing.Short() {
		t.Skip("corpus test in -short mode")
	}
	dir := nixtest.Corpus(t, "small", 3)
	common, changed := compareCorpusGens(t, corpusGen(t, dir, 2), corpusGen(t, dir, 3))
	if common < 10 || changed*4 > common {
		t.Fatalf("got %d common store paths, %d changed; want at least 10, under a quarter changed", common, changed)
	}
}

// compareCorpusGens strips the NARs present in both generations (matched by
// name) and requires identical residue and positions where the NARs differ
// only in store path hashes.
func compareCorpusGens(t *testing.T, g1, g2 map[string][]byte) (common, changed int) {
	opt := pathstrip.Options{Mode: pathstrip.DefaultMode}
	for _, name := range sortedNames(g1) {
		b2, ok := g2[name]
		if !ok {
			continue
		}
		common++
		s1 := checkRoundTrip(t, g1[name], opt, nil)
		s2 := checkRoundTrip(t, b2, opt, nil)
		if !bytes.Equal(maskHashes(g1[name]), maskHashes(b2)) {
			t.Logf("%s: contents differ beyond store path hashes", name)
			changed++
			continue
		}
		if !bytes.Equal(s1.residue, s2.residue) {
			t.Errorf("%s: residue differs (%d vs %d bytes)", name, len(s1.residue), len(s2.residue))
		}
		if !bytes.Equal(s1.positions, s2.positions) {
			t.Errorf("%s: positions differ", name)
		}
		if len(s1.paths) != len(s2.paths) {
			t.Errorf("%s: got %d paths; want %d", name, len(s2.paths), len(s1.paths))
		}
	}
	return common, changed
}

// maskHashes is an independent oracle: it zeroes the 32 characters after
// every "/nix/store/" that are all nixbase32 digits.
func maskHashes(b []byte) []byte {
	b = bytes.Clone(b)
	pre := []byte("/nix/store/")
	for i := 0; ; {
		j := bytes.Index(b[i:], pre)
		if j < 0 {
			return b
		}
		h := i + j + len(pre)
		i = h
		if h+32 > len(b) || strings.Trim(string(b[h:h+32]), "0123456789abcdfghijklmnpqrsvwxyz") != "" {
			continue
		}
		copy(b[h:h+32], strings.Repeat("_", 32))
	}
}
