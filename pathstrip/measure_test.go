package pathstrip_test

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/internal/nixtest"
	"github.com/nardedup/nardedup/pathstrip"
)

// TestMeasureCorpus prints the numbers behind the package doc's cut
// decision. Run with PATHSTRIP_MEASURE=small (or medium) and -v.
func TestMeasureCorpus(t *testing.T) {
	size := os.Getenv("PATHSTRIP_MEASURE")
	if size == "" {
		t.Skip("set PATHSTRIP_MEASURE=small to measure")
	}
	gens := 3
	if size == "medium" {
		gens = 4
	}
	dir := nixtest.Corpus(t, size, gens)
	all := make([]map[string][]byte, gens+1)
	for g := 1; g <= gens; g++ {
		all[g] = corpusGen(t, dir, g)
	}
	for _, mode := range []pathstrip.Mode{pathstrip.CutHash, pathstrip.CutHashName} {
		opt := pathstrip.Options{Mode: mode}
		strips := make([]map[string]stripped, gens+1)
		for g := 1; g <= gens; g++ {
			strips[g] = measureGen(t, mode, g, all[g], opt)
		}
		for g := 2; g <= gens; g++ {
			compareGens(t, mode, g, all[g-1], all[g], strips[g-1], strips[g])
		}
		for _, dep := range []string{"glibc-2.36", "openssl-3.0.17"} {
			bumpGen(t, mode, dep, all[2], strips[2], opt)
		}
	}
}

func measureGen(t *testing.T, mode pathstrip.Mode, g int, nars map[string][]byte, opt pathstrip.Options) map[string]stripped {
	out := map[string]stripped{}
	var in, res, pos, paths, cuts, distinct int
	for name, b := range nars {
		st := stripPieces(t, b, opt, nil)
		out[name] = st
		in += len(b)
		res += len(st.residue)
		pos += len(st.positions)
		paths += len(pathstrip.EncodePaths(st.paths))
		cuts += int(st.cuts)
		distinct += len(st.paths)
	}
	mb := float64(in) / 1e6
	t.Logf("%v gen-%d: %d NARs %.1f MB, cuts %d (%.1f/MB), distinct %d, residue %d (-%d), "+
		"positions %d B (%.1f B/MB), paths %d B (%.1f B/MB), table %.1f B/MB",
		mode, g, len(nars), mb, cuts, float64(cuts)/mb, distinct, res, in-res,
		pos, float64(pos)/mb, paths, float64(paths)/mb, float64(pos+paths)/mb)
	return out
}

func compareGens(t *testing.T, mode pathstrip.Mode, g int, a, b map[string][]byte, sa, sb map[string]stripped) {
	var common, resEq, posEq, bothEq, masked, narBytes, eqBytes int
	var diffNames []string
	for name := range a {
		if _, ok := b[name]; !ok {
			continue
		}
		common++
		narBytes += len(b[name])
		if bytes.Equal(maskHashes(a[name]), maskHashes(b[name])) {
			masked++
		}
		r := bytes.Equal(sa[name].residue, sb[name].residue)
		p := bytes.Equal(sa[name].positions, sb[name].positions)
		if r {
			resEq++
		}
		if p {
			posEq++
		}
		if r && p {
			bothEq++
			eqBytes += len(b[name])
		} else {
			diffNames = append(diffNames, name)
		}
	}
	t.Logf("%v gen-%d->gen-%d: %d common names, %d equal after masking hashes, residue equal %d, "+
		"positions equal %d, both %d (%.1f%% of %d NAR bytes); differ: %v",
		mode, g-1, g, common, masked, resEq, posEq, bothEq, 100*float64(eqBytes)/float64(narBytes), narBytes, diffNames)
}

// bumpGen simulates a same-length version bump of dependency dep (last
// character of the version incremented, new hash) in every gen-2 NAR and
// counts the NARs whose residue and positions stay identical.
func bumpGen(t *testing.T, mode pathstrip.Mode, dep string, nars map[string][]byte, before map[string]stripped, opt pathstrip.Options) {
	to := dep[:len(dep)-1] + string(dep[len(dep)-1]+1)
	var refs, same, refBytes int
	for name, b := range nars {
		if strings.HasPrefix(name, dep) {
			continue
		}
		bumped := renameDep(b, dep, to)
		if bytes.Equal(bumped, b) {
			continue
		}
		refs++
		refBytes += len(b)
		st := stripPieces(t, bumped, opt, nil)
		if bytes.Equal(st.residue, before[name].residue) && bytes.Equal(st.positions, before[name].positions) {
			same++
		}
	}
	t.Logf("%v simulated bump %s -> %s: %d NARs (%d bytes) reference it, %d keep residue and positions",
		mode, dep, to, refs, refBytes, same)
}

// renameDep rewrites every "/nix/store/<hash>-from" (not followed by a name
// character) to "/nix/store/<reversed hash>-to".
func renameDep(b []byte, from, to string) []byte {
	b = bytes.Clone(b)
	pre := []byte("/nix/store/")
	for i := 0; ; {
		j := bytes.Index(b[i:], pre)
		if j < 0 {
			return b
		}
		h := i + j + len(pre)
		i = h
		e := h + 33 + len(from)
		if e > len(b) || string(b[h+32:e]) != "-"+from || e < len(b) && strings.IndexByte(nameChars, b[e]) >= 0 {
			continue
		}
		for k := 0; k < 16; k++ {
			b[h+k], b[h+31-k] = b[h+31-k], b[h+k]
		}
		copy(b[h+33:e], to)
	}
}

const nameChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-._?="
