package crashtest

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nardedup/nardedup/internal/nixtest"
	"github.com/nardedup/nardedup/internal/sample"
)

var (
	seedFlag   = flag.Uint64("crashtest.seed", 1, "seed of the crash trials (env NARDEDUP_CRASH_SEED)")
	trialsFlag = flag.Int("crashtest.trials", 0, "number of crash trials (default 20, 6 under -short)")
)

// tempPrefix begins the name of every temporary file the local backend
// writes (local.TempPrefix).
const tempPrefix = ".nardedup-tmp-"

// seed returns the trials' seed: the flag when given, else the environment,
// else the flag's default.
func seed(t *testing.T) uint64 {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "crashtest.seed" })
	if !set {
		if s := os.Getenv("NARDEDUP_CRASH_SEED"); s != "" {
			v, err := strconv.ParseUint(s, 0, 64)
			if err != nil {
				t.Fatalf("NARDEDUP_CRASH_SEED=%q: %v", s, err)
			}
			return v
		}
	}
	return *seedFlag
}

// harness runs the nardedup binary against one source bucket.
type harness struct {
	t      *testing.T
	seed   uint64
	bin    string
	source string
	work   string
	flush  string // --flush-interval: the ingest commits many times during one run
	dedup  string // --dedup: what new chunks are deduplicated against

	srcInfo map[string][]byte // store path hash → upstream narinfo
	ref     map[string]bool   // store path hashes the reference repository serves
	refNARs int               // distinct NARs the reference repository verifies
	refDur  time.Duration     // wall time of the uninterrupted reference ingest
	timeout time.Duration     // bound of one command

	sum summary
}

type summary struct {
	trials, kills, landed, cacheDrops, planted, tempSeen int
	resumedKills, resumedLanded                          int
	spent                                                map[string]time.Duration // wall time by command
	visible                                              []int                    // paths visible after each kill that landed
	verifies, damaged                                    int
}

// run is one finished (or killed) command.
type run struct {
	dur    time.Duration
	killed bool // SIGKILL reached the process while it was running
	err    error
	out    string
}

func TestCrashDuringIngest(t *testing.T) {
	crashIngest(t, "index", 20, 6)
}

// TestCrashDuringNamesIngest is TestCrashDuringIngest for "ingest
// --dedup=names", which keeps no local index: its candidates come from the
// manifests named by names objects, which a killed run may leave
// pointing at a NAR it never finished.
func TestCrashDuringNamesIngest(t *testing.T) {
	crashIngest(t, "names", 10, 4)
}

// trialCount returns -crashtest.trials if set, else short under -short
// and full otherwise.
func trialCount(full, short int) int {
	switch {
	case *trialsFlag != 0:
		return *trialsFlag
	case testing.Short():
		return short
	}
	return full
}

// crashIngest runs the trials of the crash test with --dedup=dedup:
// fullTrials of them on the small corpus, shortTrials on the embedded
// sample under -short, unless -crashtest.trials says otherwise.
func crashIngest(t *testing.T, dedup string, fullTrials, shortTrials int) {
	h := &harness{t: t, seed: seed(t), work: t.TempDir(), dedup: dedup}
	trials := trialCount(fullTrials, shortTrials)
	if testing.Short() {
		dir, err := sample.WriteBucket(filepath.Join(h.work, "bucket"))
		if err != nil {
			t.Fatal(err)
		}
		h.source = dir
		h.flush = "10ms" // the whole sample ingests in about 150ms
	} else {
		h.source = filepath.Join(nixtest.Corpus(t, "small", 3), "bucket")
		h.flush = "200ms"
	}
	t.Logf("crashtest: seed %d (rerun with -crashtest.seed=%d or NARDEDUP_CRASH_SEED=%d), %d trials, --dedup=%s, source %s",
		h.seed, h.seed, h.seed, trials, dedup, h.source)

	start := time.Now()
	h.build()
	h.readSource()
	h.reference()

	// Even trials use a fresh repository each. Odd trials share one
	// repository in chains of three: each trial's kill lands in a run that
	// resumes the previous trial's killed run, and the chain's last trial
	// lets the ingest finish and checks the result.
	var chain *repo
	chainLen := 0
	for i := range trials {
		rng := rand.New(rand.NewPCG(h.seed, uint64(i)))
		if i%2 == 0 {
			h.freshTrial(i, rng)
			continue
		}
		if chain == nil {
			chain = h.newRepo(fmt.Sprintf("chain-%d", i))
			chainLen = 0
		}
		chainLen++
		finish := chainLen == 3 || i+2 >= trials
		h.chainTrial(i, rng, chain, chainLen, finish)
		if finish {
			chain = nil
		}
	}

	s := h.sum
	lo, med, hi := minMedMax(s.visible)
	t.Logf("crashtest summary: seed %d, %d trials in %s; %d kills, %d landed mid-run (of them in resumed runs: %d kills, %d landed); paths visible at kill min/median/max %d/%d/%d of %d; "+
		"%d index cache deletions, %d checks found temporary files, %d checks with planted temporary files; %d verify runs, %d damaged",
		h.seed, s.trials, time.Since(start).Round(time.Millisecond), s.kills, s.landed, s.resumedKills, s.resumedLanded, lo, med, hi, len(h.ref),
		s.cacheDrops, s.tempSeen, s.planted, s.verifies, s.damaged)
	t.Logf("crashtest time: ingest %s, verify %s, stats %s", s.spent["ingest"].Round(time.Millisecond),
		s.spent["verify"].Round(time.Millisecond), s.spent["stats"].Round(time.Millisecond))
}

// build compiles nardedup from the module root.
func (h *harness) build() {
	t := h.t
	h.bin = filepath.Join(h.work, "nardedup")
	start := time.Now()
	cmd := exec.Command("go", "build", "-o", h.bin, "./cmd/nardedup")
	cmd.Dir = nixtest.RepoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("built %s in %s", h.bin, time.Since(start).Round(time.Millisecond))
}

// readSource reads every narinfo of the source bucket.
func (h *harness) readSource() {
	t := h.t
	entries, err := os.ReadDir(h.source)
	if err != nil {
		t.Fatal(err)
	}
	h.srcInfo = make(map[string][]byte)
	for _, e := range entries {
		hash, ok := strings.CutSuffix(e.Name(), ".narinfo")
		if !ok || !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(h.source, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		h.srcInfo[hash] = b
	}
	if len(h.srcInfo) == 0 {
		t.Fatalf("no narinfos in %s", h.source)
	}
}

// reference ingests the source uninterrupted and records what it serves.
func (h *harness) reference() {
	t := h.t
	r := h.newRepo("reference")
	// A generous bound until the reference run's duration is known.
	h.timeout = 5 * time.Minute
	res := h.ingest(r, -1)
	if res.err != nil {
		t.Fatalf("reference ingest: %v\n%s", res.err, res.out)
	}
	h.refDur = res.dur
	h.timeout = 30*time.Second + 10*res.dur
	vis, err := visible(r.dir)
	if err != nil {
		t.Fatal(err)
	}
	h.ref = vis
	for hash := range h.srcInfo {
		if !vis[hash] {
			t.Errorf("reference repository lacks %s, which the source holds", hash)
		}
	}
	nars, _, out, err := h.verify(r)
	if err != nil {
		t.Fatalf("verify of the reference repository: %v\n%s", err, out)
	}
	h.refNARs = nars
	t.Logf("reference: %d store paths, %d distinct NARs, ingest %s (flush interval %s)",
		len(vis), nars, res.dur.Round(time.Millisecond), h.flush)
}

// repo is one repository under test with its own local index cache.
type repo struct {
	name, dir, cache string
	seen             map[string]bool // paths visible at the last check
}

func (h *harness) newRepo(name string) *repo {
	return &repo{
		name:  name,
		dir:   filepath.Join(h.work, name, "repo"),
		cache: filepath.Join(h.work, name, "cache"),
		seen:  map[string]bool{},
	}
}

// ingest runs "nardedup ingest" into r. With killAfter >= 0 it sends SIGKILL
// to the process group that long after the start, unless the run ended
// before.
func (h *harness) ingest(r *repo, killAfter time.Duration) run {
	return h.command(killAfter, "ingest", "--repo", r.dir, "--index-cache", r.cache,
		"--flush-interval", h.flush, "--dedup", h.dedup, h.source)
}

func (h *harness) command(killAfter time.Duration, args ...string) run {
	ctx, cancel := context.WithTimeout(context.Background(), h.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.bin, args...)
	// Only the flags configure the command: no NARDEDUP_* twin from the
	// environment of the test.
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "NARDEDUP_") })
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// Its own process group, so that a kill reaches the decompressors it
	// starts too, as a crash of the machine would.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return run{err: err}
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	if killAfter < 0 {
		err = <-done
	} else {
		timer := time.NewTimer(killAfter)
		select {
		case err = <-done:
			timer.Stop()
		case <-timer.C:
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			err = <-done
		}
	}
	res := run{dur: time.Since(start), err: err, out: out.String()}
	if h.sum.spent == nil {
		h.sum.spent = make(map[string]time.Duration)
	}
	h.sum.spent[args[0]] += res.dur
	if ctx.Err() != nil {
		res.err = fmt.Errorf("timed out after %s: %w", h.timeout, err)
		return res
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
		res.killed = true
	}
	return res
}

func (h *harness) afterKill(tag string, r *repo, res run, resumed, plant bool, rng *rand.Rand) int {
	t := h.t
	h.sum.kills++
	if resumed {
		h.sum.resumedKills++
	}
	if res.killed {
		h.sum.landed++
		if resumed {
			h.sum.resumedLanded++
		}
	} else if res.err != nil {
		t.Errorf("%s: ingest failed before the kill: %v\n%s", tag, res.err, res.out)
		return 0
	}
	if _, err := os.Stat(filepath.Join(r.dir, "config")); errors.Is(err, fs.ErrNotExist) {
		// Killed before the repository was created: nothing may be there.
		vis, err := visible(r.dir)
		if err != nil || len(vis) > 0 {
			t.Errorf("%s: no config, but narinfo/ holds %d entries (%v)", tag, len(vis), err)
		}
		t.Logf("%s: killed=%v after %s: no repository yet", tag, res.killed, res.dur.Round(time.Millisecond))
		if res.killed {
			h.sum.visible = append(h.sum.visible, 0)
		}
		return 0
	}
	vis, err := visible(r.dir)
	if err != nil {
		t.Errorf("%s: %v", tag, err)
		return 0
	}
	if res.killed {
		h.sum.visible = append(h.sum.visible, len(vis))
	}
	h.checkVisible(tag, r, vis)
	r.seen = vis

	temps := tempFiles(r.dir)
	if len(temps) > 0 {
		h.sum.tempSeen++
	}
	planted := 0
	if plant {
		planted = h.plantTemp(r, rng)
		if planted > 0 {
			h.sum.planted++
		}
	}
	nars, damaged, out, verr := h.verify(r)
	if verr != nil || damaged > 0 {
		t.Errorf("%s: verify of the killed repository (%d paths visible): %v, %d damaged\n%s", tag, len(vis), verr, damaged, out)
	}
	paths, sout, serr := h.stats(r)
	if serr != nil {
		t.Errorf("%s: stats of the killed repository: %v\n%s", tag, serr, sout)
	} else if paths != len(vis) {
		t.Errorf("%s: stats counts %d store paths, narinfo/ holds %d objects (and %d temporary files)\n%s",
			tag, paths, len(vis), len(temps)+planted, sout)
	}
	t.Logf("%s: ran %s, killed=%v: %d/%d paths visible, %d temporary files left (+%d planted), verify %d NARs %d damaged (ok=%v)",
		tag, res.dur.Round(time.Millisecond), res.killed, len(vis), len(h.ref), len(temps), planted, nars, damaged, verr == nil && damaged == 0)
	return len(vis)
}

// dropCache deletes the repository's local index cache (derived data).
// checkVisible checks that no path visible before has gone and that every
// visible narinfo is the upstream one, byte for byte.
func (h *harness) checkVisible(tag string, r *repo, vis map[string]bool) {
	t := h.t
	for hash := range r.seen {
		if !vis[hash] {
			t.Errorf("%s: store path %s was visible before this run and is gone (narinfo/%s.narinfo)", tag, hash, hash)
		}
	}
	for hash := range vis {
		got, err := os.ReadFile(filepath.Join(r.dir, "narinfo", hash+".narinfo"))
		if err != nil {
			t.Errorf("%s: %v", tag, err)
			continue
		}
		if want, ok := h.srcInfo[hash]; !ok {
			t.Errorf("%s: narinfo/%s.narinfo is visible but the source has no such store path", tag, hash)
		} else if !bytes.Equal(got, want) {
			t.Errorf("%s: narinfo/%s.narinfo differs from the upstream narinfo (%d bytes, want %d)", tag, hash, len(got), len(want))
		}
	}
}

func (h *harness) dropCache(r *repo) {
	if err := os.RemoveAll(r.cache); err != nil {
		h.t.Fatal(err)
	}
	h.sum.cacheDrops++
}

// finish lets an ingest into r run to its end and checks that r then serves
// exactly the reference's store paths, verifies, and that one more run
// stores nothing.
func (h *harness) finish(tag string, r *repo) {
	t := h.t
	res := h.ingest(r, -1)
	if res.err != nil || !strings.Contains(res.out, " 0 failed") {
		t.Errorf("%s: resumed ingest: %v\n%s", tag, res.err, res.out)
	}
	vis, err := visible(r.dir)
	if err != nil {
		t.Errorf("%s: %v", tag, err)
	}
	var missing, extra []string
	for hash := range h.ref {
		if !vis[hash] {
			missing = append(missing, hash)
		}
	}
	for hash := range vis {
		if !h.ref[hash] {
			extra = append(extra, hash)
		}
	}
	if len(missing)+len(extra) > 0 {
		sort.Strings(missing)
		sort.Strings(extra)
		t.Errorf("%s: finished repository serves %d paths, reference %d; missing %v, extra %v", tag, len(vis), len(h.ref), missing, extra)
	}
	nars, damaged, out, verr := h.verify(r)
	if verr != nil || damaged > 0 || nars != h.refNARs {
		t.Errorf("%s: verify of the finished repository: %v, %d NARs (reference %d), %d damaged\n%s", tag, verr, nars, h.refNARs, damaged, out)
	}
	again := h.ingest(r, -1)
	if again.err != nil || !strings.Contains(again.out, " 0 new NARs, 0 linked") {
		t.Errorf("%s: ingest after the finished one stored something or failed: %v\n%s", tag, again.err, again.out)
	}
	r.seen = vis
	t.Logf("%s: resumed run finished in %s, %d/%d paths, verify %d NARs %d damaged", tag,
		res.dur.Round(time.Millisecond), len(vis), len(h.ref), nars, damaged)
}

// fraction draws a kill delay's fraction of a run: uniform, but one in eight
// falls in the first twentieth, where the repository is being created.
func fraction(rng *rand.Rand) float64 {
	f := rng.Float64()
	if rng.IntN(8) == 0 {
		f *= 0.05
	}
	return f
}

// delay turns the seeded fraction f into a kill delay for an ingest into r:
// f of the reference run's duration, scaled for a resumed run by the share
// of store paths not yet visible (plus startup), so that kills land in
// resumed runs too.
func (h *harness) delay(f float64, r *repo) time.Duration {
	left := 1 - float64(len(r.seen))/float64(len(h.ref))
	d := time.Duration(f * float64(h.refDur) * left)
	if len(r.seen) > 0 {
		d += time.Duration(f * float64(50*time.Millisecond))
	}
	return d
}

// freshTrial kills an ingest into a new repository, checks it, and resumes
// it; by the trial number it also deletes the index cache before resuming,
// kills the resumed run too, or both.
func (h *harness) freshTrial(i int, rng *rand.Rand) {
	h.sum.trials++
	variant := (i / 2) % 4
	dropCache := variant == 1 || variant == 3
	killResume := variant >= 2
	plant := rng.IntN(2) == 0
	f1, f2 := fraction(rng), fraction(rng)
	tag := fmt.Sprintf("seed %d trial %d (fresh)", h.seed, i)
	r := h.newRepo(fmt.Sprintf("trial-%d", i))
	d1 := h.delay(f1, r)
	h.t.Logf("%s: kill after %s (f=%.3f), drop cache %v, kill resumed run %v (f=%.3f), plant temp files %v",
		tag, d1.Round(time.Millisecond), f1, dropCache, killResume, f2, plant)
	h.afterKill(tag+" run 1", r, h.ingest(r, d1), false, plant, rng)
	if dropCache {
		h.dropCache(r)
	}
	if killResume {
		d2 := h.delay(f2, r)
		h.t.Logf("%s run 2: kill after %s", tag, d2.Round(time.Millisecond))
		h.afterKill(tag+" run 2", r, h.ingest(r, d2), true, false, rng)
	}
	h.finish(tag, r)
}

// chainTrial kills an ingest into the chain's shared repository, which
// resumes the previous trial's killed run, and with finish lets it complete.
func (h *harness) chainTrial(i int, rng *rand.Rand, r *repo, pos int, finish bool) {
	h.sum.trials++
	dropCache := rng.IntN(3) == 0
	plant := rng.IntN(2) == 0
	f := fraction(rng)
	d := h.delay(f, r)
	tag := fmt.Sprintf("seed %d trial %d (%s, run %d)", h.seed, i, r.name, pos)
	h.t.Logf("%s: kill after %s (f=%.3f), drop cache %v, plant temp files %v, finish %v",
		tag, d.Round(time.Millisecond), f, dropCache, plant, finish)
	h.afterKill(tag, r, h.ingest(r, d), pos > 1, plant, rng)
	if dropCache {
		h.dropCache(r)
	}
	if finish {
		h.finish(tag, r)
	}
}

func minMedMax(v []int) (lo, med, hi int) {
	if len(v) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[0], s[len(s)/2], s[len(s)-1]
}
