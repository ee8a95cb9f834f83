package crashtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend/local"
	"github.com/nardedup/nardedup/chunkstore/lease"
	"github.com/nardedup/nardedup/chunkstore/pack"
	"github.com/nardedup/nardedup/internal/sample"
	"github.com/nardedup/nardedup/narfmt/nixhash"
	nrepo "github.com/nardedup/nardedup/repo"
	"github.com/nardedup/nardedup/repo/layout"
)

// gcArgs are the flags of every collection of the test: no grace period,
// a short wait, and nearly every pack that lost a chunk repacked.
var gcArgs = []string{"--grace", "0", "--wait", "5s", "--repack-below", "0.9"}

// gcRig kills "nardedup gc" at seeded random moments over copies of one
// repository, and checks that nothing live is lost and that the next run
// finishes the work.
type gcRig struct {
	h        *harness
	base     *repo           // ingested, some paths forgotten, never collected
	live     map[string]bool // store path hashes left
	liveNARs int
	ref      gcOutcome     // after an uninterrupted collection
	refDur   time.Duration // its wall time
	refMark  time.Duration // when it began marking
	strict   bool          // two uninterrupted collections end alike
	sum      gcSummary
}

// gcOutcome is what a repository holds after a collection.
type gcOutcome struct {
	packs, index int // packs with an index object, index objects
	packBytes    int64
	orphans      []string // packs without an index object
	manifests    []string
}

func (o gcOutcome) String() string {
	return fmt.Sprintf("%d packs (%d bytes), %d index objects, %d manifests, %d packs without index object",
		o.packs, o.packBytes, o.index, len(o.manifests), len(o.orphans))
}

// equal compares what collections can see: packs without an index object
// are left out (see TestGCTakesPackWithoutIndexObject).
func (o gcOutcome) equal(p gcOutcome) bool {
	return o.packs == p.packs && o.index == p.index && o.packBytes == p.packBytes && slices.Equal(o.manifests, p.manifests)
}

type gcSummary struct {
	trials, landed int
	phases         map[string]int // where the kills landed
	refused        int            // reruns that refused to start: the killed run's session looked alive
	finished       int            // reruns that finished an earlier run's list
	differed       int            // trials after a kill while repacking that ended unlike the reference
	orphans        int            // packs left without an index object
}

func TestCrashDuringGC(t *testing.T) {
	h := &harness{t: t, seed: seed(t), work: t.TempDir(), timeout: 2 * time.Minute}
	trials := trialCount(20, 8)
	t.Logf("crashtest gc: seed %d (rerun with -crashtest.seed=%d or NARDEDUP_CRASH_SEED=%d), %d trials", h.seed, h.seed, h.seed, trials)
	start := time.Now()
	h.build()
	g := &gcRig{h: h, sum: gcSummary{phases: make(map[string]int)}}
	g.setup(rand.New(rand.NewPCG(h.seed, 0x6763)))
	for i := range trials {
		g.trial(i, rand.New(rand.NewPCG(h.seed, 0x6763+1+uint64(i))))
	}
	s := g.sum
	var phases []string
	for _, p := range []string{"starting", "marking", "repacking", "list written", "sweeping", "list deleted", "not killed"} {
		phases = append(phases, fmt.Sprintf("%s %d", p, s.phases[p]))
	}
	t.Logf("crashtest gc summary: seed %d, %d trials in %s; %d kills landed mid-run: %s; %d reruns refused to start at once (the killed run's session looked alive); %d reruns finished an earlier list; %d trials killed while repacking ended unlike the reference; %d packs left without an index object",
		h.seed, s.trials, time.Since(start).Round(time.Millisecond), s.landed, strings.Join(phases, ", "), s.refused, s.finished, s.differed, s.orphans)
	t.Logf("crashtest gc time: ingest %s, gc %s, verify %s", h.sum.spent["ingest"].Round(time.Millisecond),
		h.sum.spent["gc"].Round(time.Millisecond), h.sum.spent["verify"].Round(time.Millisecond))
}

// setup builds the base repository in four ingests, forgets every
// generation of two packages and some other paths, and collects two
// copies of it uninterrupted.
func (g *gcRig) setup(rng *rand.Rand) {
	h, t := g.h, g.h.t
	gen1 := sample.Paths(1)
	runs := [][]string{gen1[:len(gen1)/2], gen1[len(gen1)/2:], sample.Paths(2), sample.Paths(3)}
	g.base = h.newRepo("gc-base")
	for i, paths := range runs {
		dir := sampleBucket(t, filepath.Join(h.work, fmt.Sprintf("gc-bucket-%d", i)), paths)
		// Small chunks and frames, and a pack sealed every millisecond:
		// many packs for the collection to delete and to repack. The
		// index dedup, for a local index cache that trials keep or drop.
		res := h.command(-1, "ingest", "--repo", g.base.dir, "--index-cache", g.base.cache, "--dedup", "index",
			"--flush-interval", "1ms", "--group-size", "16384", "--chunk-avg-bits", "12", dir)
		if res.err != nil {
			t.Fatalf("ingest %d: %v\n%s", i+1, res.err, res.out)
		}
	}
	names := make(map[string][]string) // package name → its store paths
	var all []string
	for gen := 1; gen <= 3; gen++ {
		for _, p := range sample.Paths(gen) {
			name := filepath.Base(p)[33:]
			names[name] = append(names[name], p)
			all = append(all, p)
		}
	}
	pkgs := make([]string, 0, len(names))
	for n := range names {
		pkgs = append(pkgs, n)
	}
	slices.Sort(pkgs)
	rng.Shuffle(len(pkgs), func(i, j int) { pkgs[i], pkgs[j] = pkgs[j], pkgs[i] })
	forget := make(map[string]bool)
	for _, n := range pkgs[:2] {
		for _, p := range names[n] {
			forget[p] = true
		}
	}
	for _, p := range all {
		if rng.IntN(4) == 0 {
			forget[p] = true
		}
	}
	for p := range forget {
		if err := os.Remove(filepath.Join(g.base.dir, "narinfo", filepath.Base(p)[:32]+".narinfo")); err != nil {
			t.Fatal(err)
		}
	}
	vis, err := visible(g.base.dir)
	if err != nil {
		t.Fatal(err)
	}
	g.live = vis
	nars := make(map[string]bool)
	for hash := range vis {
		text, err := os.ReadFile(filepath.Join(g.base.dir, "narinfo", hash+".narinfo"))
		if err != nil {
			t.Fatal(err)
		}
		nars[narHashLine(t, text)] = true
	}
	g.liveNARs = len(nars)
	before := g.outcome(g.base)
	t.Logf("base repository: %s; forgot %d of %d store paths (every generation of %s and %s), %d left with %d NARs",
		before, len(forget), len(all), pkgs[0], pkgs[1], len(vis), g.liveNARs)

	// Two uninterrupted collections, on copies with a kept and a new
	// local index.
	var outs []gcOutcome
	for i, keepCache := range []bool{true, false} {
		r := g.copyBase(fmt.Sprintf("gc-reference-%d", i), keepCache)
		res, mark := g.runGC(r, -1, -1)
		if res.err != nil {
			t.Fatalf("reference gc: %v\n%s", res.err, res.out)
		}
		if i == 0 || res.dur < g.refDur {
			g.refDur, g.refMark = res.dur, mark
		}
		g.checkServes("reference", r)
		g.checkLive("reference", r)
		out := g.outcome(r)
		outs = append(outs, out)
		t.Logf("reference gc %d (kept index %v) in %s, marking after %s: %s\n%s", i+1, keepCache, res.dur.Round(time.Millisecond),
			mark.Round(time.Millisecond), out, res.out)
	}
	g.ref = outs[0]
	g.strict = outs[0].equal(outs[1])
	if !g.strict {
		t.Logf("the two uninterrupted collections ended unlike (%s; %s): trials are compared with the reference loosely", outs[0], outs[1])
	}
	if g.ref.packs >= before.packs || len(g.ref.manifests) >= len(before.manifests) {
		t.Fatalf("the reference collection reclaimed nothing (%s before, %s after): the trials test nothing", before, g.ref)
	}
	h.timeout = 30*time.Second + 20*g.refDur
}

// trial kills a collection over a copy of the base repository, checks
// it, runs the collection again and checks that it finished.
func (g *gcRig) trial(i int, rng *rand.Rand) {
	h, t := g.h, g.h.t
	g.sum.trials++
	keepCache := rng.IntN(2) == 0
	// A quarter of the kills anywhere in the run, timed from its start;
	// the others timed from when it says it marks, past the start of the
	// process, the opening of the repository and the announcement of the
	// collection, whose length varies most with the machine's load.
	f := fraction(rng)
	fromStart, afterMark := time.Duration(f*float64(g.refDur)), time.Duration(-1)
	when := fmt.Sprintf("%s after the start", fromStart.Round(time.Millisecond))
	if rng.IntN(4) != 0 {
		fromStart, afterMark = -1, time.Duration(f*float64(g.refDur-g.refMark))
		when = fmt.Sprintf("%s after marking began", afterMark.Round(time.Millisecond))
	}
	tag := fmt.Sprintf("seed %d gc trial %d", h.seed, i)
	r := g.copyBase(fmt.Sprintf("gc-trial-%d", i), keepCache)
	res, _ := g.runGC(r, fromStart, afterMark)
	if !res.killed && res.err != nil {
		t.Errorf("%s: gc failed before the kill: %v\n%s", tag, res.err, res.out)
		return
	}
	_, statErr := os.Stat(filepath.Join(r.dir, filepath.FromSlash(lease.CondemnedKey)))
	listLeft := statErr == nil
	phase := gcPhase(res, listLeft)
	g.sum.phases[phase]++
	if res.killed {
		g.sum.landed++
	}
	t.Logf("%s: kill %s (f=%.3f, kept index %v): %s, condemned list left %v", tag, when, f, keepCache, phase, listLeft)

	// Everything live still reads back, at once.
	g.checkServes(tag+" after the kill", r)

	// The next run finishes the work, started right away as the
	// command's help says.
	args := append([]string{"gc", "--repo", r.dir, "--index-cache", r.cache}, gcArgs...)
	again := h.command(-1, args...)
	if again.err != nil && strings.Contains(again.out, "another collection is running") {
		g.sum.refused++ // the killed run's announcement was taken for alive
	}
	if again.err != nil {
		t.Errorf("%s: gc after the kill: %v\n%s", tag, again.err, again.out)
		return
	}
	finished := strings.Contains(again.out, "finished the sweep of an earlier run")
	if finished {
		g.sum.finished++
	}
	if finished != listLeft {
		t.Errorf("%s: the killed run left its condemned list: %v; the next run says it finished one: %v\n%s", tag, listLeft, finished, again.out)
	}
	if _, err := os.Stat(filepath.Join(r.dir, filepath.FromSlash(lease.CondemnedKey))); err == nil {
		t.Errorf("%s: the condemned list is left after a run that completed\n%s", tag, again.out)
	}
	g.checkServes(tag+" after gc ran again", r)
	g.checkLive(tag+" after gc ran again", r)
	out := g.outcome(r)
	if len(out.orphans) > 0 {
		// A run killed between storing a pack of copies and its index
		// object leaves the pack to no one.
		g.sum.orphans += len(out.orphans)
		t.Errorf("%s: %d packs without an index object left after gc ran again (%s)", tag, len(out.orphans), phase)
	}
	switch {
	case out.equal(g.ref):
	case phase == "repacking":
		// Copies made by a run killed before it wrote its list are
		// second homes of live chunks, which may own them now: the
		// next run's choices differ. Nothing dead is left (checkLive).
		g.sum.differed++
		t.Logf("%s: after a kill while repacking and a rerun: %s; after an uninterrupted collection: %s", tag, out, g.ref)
	case g.strict:
		t.Errorf("%s: after the kill and a rerun the repository holds %s, after an uninterrupted collection %s", tag, out, g.ref)
	}
}

// runGC runs a collection over r. With fromStart >= 0 it is killed that
// long after it started; with afterMark >= 0, that long after it said it
// began marking; unless it ended before. It also returns when the run
// began marking.
func (g *gcRig) runGC(r *repo, fromStart, afterMark time.Duration) (run, time.Duration) {
	args := append([]string{"gc", "--repo", r.dir, "--index-cache", r.cache}, gcArgs...)
	return g.h.commandWatched(args, true, "gc: marking", fromStart, afterMark)
}

// commandWatched runs nardedup with args and watches the lines of its
// stderr (or, if not fromStderr, its stdout) for one beginning with
// prefix. With fromStart >= 0 it is killed that long after it started;
// with afterLine >= 0, that long after it wrote the line; unless it ended
// before. It also returns when it wrote the line (0: never).
func (h *harness) commandWatched(args []string, fromStderr bool, prefix string, fromStart, afterLine time.Duration) (run, time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), h.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.bin, args...)
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "NARDEDUP_") })
	var other strings.Builder
	var pipe io.ReadCloser
	var err error
	if fromStderr {
		cmd.Stdout = &other
		pipe, err = cmd.StderrPipe()
	} else {
		cmd.Stderr = &other
		pipe, err = cmd.StdoutPipe()
	}
	if err != nil {
		h.t.Fatal(err)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	kill := func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var timers []*time.Timer
	if fromStart >= 0 {
		timers = append(timers, time.AfterFunc(fromStart, kill))
	}
	var seen time.Duration
	var lines []string
	sc := bufio.NewScanner(pipe)
	for sc.Scan() {
		if seen == 0 && strings.HasPrefix(sc.Text(), prefix) {
			seen = time.Since(start)
			if afterLine >= 0 {
				timers = append(timers, time.AfterFunc(afterLine, kill))
			}
		}
		lines = append(lines, sc.Text())
	}
	err = cmd.Wait()
	for _, tm := range timers {
		tm.Stop()
	}
	res := run{dur: time.Since(start), err: err, out: strings.Join(lines, "\n") + "\n" + other.String()}
	if h.sum.spent == nil {
		h.sum.spent = make(map[string]time.Duration)
	}
	h.sum.spent[args[0]] += res.dur
	if ctx.Err() != nil {
		res.err = fmt.Errorf("timed out after %s: %w", h.timeout, err)
		return res, seen
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
		res.killed = true
	}
	return res, seen
}

// gcPhase names where a run was killed, from its progress lines and
// whether its condemned list was left.
func gcPhase(res run, listLeft bool) string {
	switch {
	case !res.killed:
		return "not killed"
	case strings.Contains(res.out, "gc: marking again"):
		if listLeft {
			return "sweeping"
		}
		return "list deleted"
	case listLeft:
		return "list written"
	case strings.Contains(res.out, "gc: condemned:"):
		return "repacking"
	case strings.Contains(res.out, "gc: marking"):
		return "marking"
	default:
		return "starting"
	}
}

// checkServes checks that r serves exactly the live store paths and that
// "nardedup verify" rebuilds every live NAR.
func (g *gcRig) checkServes(tag string, r *repo) {
	t := g.h.t
	vis, err := visible(r.dir)
	if err != nil {
		t.Errorf("%s: %v", tag, err)
		return
	}
	if len(vis) != len(g.live) {
		t.Errorf("%s: %d store paths visible, want %d", tag, len(vis), len(g.live))
	}
	for hash := range g.live {
		if !vis[hash] {
			t.Errorf("%s: live store path %s is gone", tag, hash)
		}
	}
	nars, damaged, out, err := g.h.verify(r)
	if err != nil || damaged > 0 || nars != g.liveNARs {
		t.Errorf("%s: verify: %v, %d NARs (want %d), %d damaged\n%s", tag, err, nars, g.liveNARs, damaged, out)
	}
}

// checkLive checks that every pack holds a chunk that a live narinfo
// reaches, and that every manifest is live.
func (g *gcRig) checkLive(tag string, r *repo) {
	t := g.h.t
	ctx := context.Background()
	be, err := local.Open(r.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	rp, err := nrepo.Open(ctx, be, nrepo.Options{Chunks: chunkstore.Options{IndexPath: filepath.Join(t.TempDir(), "index.db")}})
	if err != nil {
		t.Errorf("%s: open: %v", tag, err)
		return
	}
	defer rp.Close()
	cs, st := rp.Chunks(), rp.NARs()
	liveChunks := make(map[chunkstore.ID]bool)
	liveManifests := make(map[string]bool)
	err = st.ListNarInfos(ctx, func(h string) error {
		text, err := st.NarInfo(ctx, h)
		if err != nil {
			return err
		}
		var nh [32]byte
		hv, err := nixhash.Parse(narHashLine(t, text))
		if err != nil {
			return err
		}
		copy(nh[:], hv.Digest)
		liveManifests[layout.ManifestOf(nh).Key()] = true
		m, err := st.Manifest(ctx, nh)
		if err != nil {
			return err
		}
		for _, ref := range append(slices.Clone(m.Recipe), m.Positions...) {
			liveChunks[ref.ID] = true
		}
		return st.ResidueChunks(ctx, m, func(ref chunkstore.Ref) error {
			liveChunks[ref.ID] = true
			return nil
		})
	})
	if err != nil {
		t.Errorf("%s: mark: %v", tag, err)
		return
	}
	o := g.outcome(r)
	for _, name := range o.manifests {
		if !liveManifests["manifests/"+name] {
			t.Errorf("%s: dead manifest %s left", tag, name)
		}
	}
	for _, p := range objectNames(t, filepath.Join(r.dir, "packs")) {
		id, err := chunkstore.ParseID(p)
		if err != nil {
			t.Errorf("%s: packs/%s: %v", tag, p, err)
			continue
		}
		toc, err := cs.ReadTOC(ctx, id)
		if err != nil {
			t.Errorf("%s: pack %s: %v", tag, p, err)
			continue
		}
		if !slices.ContainsFunc(toc.Chunks, func(c pack.ChunkInfo) bool { return liveChunks[c.ID] }) {
			t.Errorf("%s: pack %s holds no live chunk", tag, p)
		}
	}
}

// outcome counts r's packs, index objects and manifests.
func (g *gcRig) outcome(r *repo) gcOutcome {
	t := g.h.t
	var o gcOutcome
	for _, p := range objectNames(t, filepath.Join(r.dir, "packs")) {
		if _, err := os.Stat(filepath.Join(r.dir, "index", p)); errors.Is(err, fs.ErrNotExist) {
			o.orphans = append(o.orphans, p)
			continue
		}
		fi, err := os.Stat(filepath.Join(r.dir, "packs", p[:2], p))
		if err != nil {
			t.Fatal(err)
		}
		o.packs++
		o.packBytes += fi.Size()
	}
	o.index = len(objectNames(t, filepath.Join(r.dir, "index")))
	o.manifests = objectNames(t, filepath.Join(r.dir, "manifests"))
	return o
}

// objectNames lists the objects under dir (not temporary files), by base
// name, sorted.
func objectNames(t *testing.T, dir string) []string {
	var names []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && !strings.HasPrefix(d.Name(), tempPrefix) {
			names = append(names, d.Name())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	return names
}

// copyBase copies the base repository, and its local index cache if
// keepCache.
func (g *gcRig) copyBase(name string, keepCache bool) *repo {
	r := g.h.newRepo(name)
	copyTree(g.h.t, g.base.dir, r.dir)
	if keepCache {
		copyTree(g.h.t, g.base.cache, r.cache)
	}
	return r
}

func copyTree(t *testing.T, from, to string) {
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// sampleBucket writes the sample cache into dir with only the narinfos of
// paths.
func sampleBucket(t *testing.T, dir string, paths []string) string {
	dir, err := sample.WriteBucket(dir)
	if err != nil {
		t.Fatal(err)
	}
	keep := make(map[string]bool)
	for _, p := range paths {
		keep[filepath.Base(p)[:32]+".narinfo"] = true
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".narinfo") && !keep[e.Name()] {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

// narHashLine returns the NarHash of a narinfo text.
func narHashLine(t *testing.T, text []byte) string {
	for line := range strings.SplitSeq(string(text), "\n") {
		if v, ok := strings.CutPrefix(line, "NarHash: "); ok {
			return v
		}
	}
	t.Fatalf("narinfo without NarHash:\n%s", text)
	return ""
}

// TestGCAgainRightAfterKill kills a collection as soon as it has announced
// itself and started marking, then runs it again at once: a killed
// collection loses nothing, and the next run finishes its work ("run it
// again", the command's help says).
func TestGCAgainRightAfterKill(t *testing.T) {
	h := &harness{t: t, seed: seed(t), work: t.TempDir(), timeout: 2 * time.Minute}
	h.build()
	r := h.newRepo("repo")
	dir := sampleBucket(t, filepath.Join(h.work, "bucket"), sample.Paths(1))
	if res := h.command(-1, "ingest", "--repo", r.dir, "--index-cache", r.cache, dir); res.err != nil {
		t.Fatalf("ingest: %v\n%s", res.err, res.out)
	}
	gen1 := sample.Paths(1)
	if err := os.Remove(filepath.Join(r.dir, "narinfo", filepath.Base(gen1[0])[:32]+".narinfo")); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"gc", "--repo", r.dir, "--index-cache", r.cache}, gcArgs...)

	// Run the collection and kill it at its first progress line.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.bin, args...)
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "NARDEDUP_") })
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	killed := false
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "gc: marking") {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			killed = true
			break
		}
	}
	_, _ = io.Copy(io.Discard, stderr)
	_ = cmd.Wait()
	if !killed {
		t.Fatal("the collection ended before it started marking")
	}

	again := h.command(-1, args...)
	if again.err != nil {
		t.Fatalf("gc right after the kill: %v\n%s", again.err, again.out)
	}
	nars, damaged, out, err := h.verify(r)
	if err != nil || damaged > 0 || nars != len(gen1)-1 {
		t.Errorf("verify: %v, %d NARs, %d damaged\n%s", err, nars, damaged, out)
	}
}

// TestGCTakesPackWithoutIndexObject forgets every store path, leaves one
// pack without its index object, as a process killed between storing a
// pack and its index object does (a collection killed while repacking,
// an ingest), and collects: nothing is live, so no pack may be left.
func TestGCTakesPackWithoutIndexObject(t *testing.T) {
	h := &harness{t: t, seed: seed(t), work: t.TempDir(), timeout: 2 * time.Minute}
	h.build()
	r := h.newRepo("repo")
	dir := sampleBucket(t, filepath.Join(h.work, "bucket"), sample.Paths(1))
	res := h.command(-1, "ingest", "--repo", r.dir, "--index-cache", r.cache,
		"--flush-interval", "1ms", "--group-size", "16384", "--chunk-avg-bits", "12", dir)
	if res.err != nil {
		t.Fatalf("ingest: %v\n%s", res.err, res.out)
	}
	for _, p := range sample.Paths(1) {
		if err := os.Remove(filepath.Join(r.dir, "narinfo", filepath.Base(p)[:32]+".narinfo")); err != nil {
			t.Fatal(err)
		}
	}
	index := objectNames(t, filepath.Join(r.dir, "index"))
	if len(index) < 2 {
		t.Fatalf("%d packs: the test needs several", len(index))
	}
	orphan := index[0]
	if err := os.Remove(filepath.Join(r.dir, "index", orphan)); err != nil {
		t.Fatal(err)
	}
	res = h.command(-1, append([]string{"gc", "--repo", r.dir, "--index-cache", r.cache}, gcArgs...)...)
	if res.err != nil {
		t.Fatalf("gc: %v\n%s", res.err, res.out)
	}
	left := objectNames(t, filepath.Join(r.dir, "packs"))
	t.Logf("%d packs, one without its index object; after gc %d packs left: %v\n%s", len(index), len(left), left, res.out)
	if len(left) > 0 {
		t.Errorf("no store path is left, but %d packs are", len(left))
	}
}
