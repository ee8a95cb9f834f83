package scalegen_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/local"
	"github.com/nardedup/nardedup/gc"
	"github.com/nardedup/nardedup/internal/faulty"
	"github.com/nardedup/nardedup/internal/scalegen"
	"github.com/nardedup/nardedup/repo"
	"github.com/nardedup/nardedup/server"
)

// batchNARs is how many NARs of a new generation the ingest measurement
// stores into the generated repository.
const batchNARs = 1000

// figures are what TestScale measures at one size.
type figures struct {
	chunks, packs, nars int
	genTime             time.Duration

	indexFile    float64 // an ingest's local bbolt bytes per chunk
	serverIndex  float64 // a server's local bbolt bytes per chunk
	openTime     time.Duration
	indexObjects float64 // index/ bytes per chunk
	manifest     float64 // manifests/ bytes per NAR

	firstNAR            time.Duration // a new server: open to first NAR served
	lists, listed, gets int
	stats               int

	heap, rss  uint64 // peak growth while ingesting batchNARs more NARs
	ingestTime time.Duration
	stored     int64 // repository bytes after generating
	batch      int64 // bytes the batch added

	gcTime     time.Duration
	gcTemp     float64 // live set bytes per live chunk
	liveChunks int
}

// TestScale generates repositories of the sizes in NARDEDUP_SCALE (chunk
// counts, comma-separated, e.g. 1e4,1e5,1e6) under NARDEDUP_SCALE_DIR
// (default the test's temporary directory) and measures what grows with
// them; see README.md, "Scale". Each repository is deleted once measured.
// NARDEDUP_SCALE_REUSE=DIR measures instead the repository an earlier run
// generated in DIR (one size; the test cut short before deleting it): the
// server, a batch of one generation more than the earlier batch, and gc,
// with the chunks and packs counted by gc's index.
// With NARDEDUP_SCALE_DEDUP=names, the repository is generated and the
// batch ingested with names dedup (no local index). Objects are written
// without fsyncs (local.OpenUnsynced), as on /dev/shm.
func TestScale(t *testing.T) {
	env := os.Getenv("NARDEDUP_SCALE")
	if env == "" {
		t.Skip("set NARDEDUP_SCALE=1e4,1e5,… to measure")
	}
	reuse := os.Getenv("NARDEDUP_SCALE_REUSE")
	var all []figures
	for s := range strings.SplitSeq(env, ",") {
		n, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			t.Fatalf("NARDEDUP_SCALE: %v", err)
		}
		dir := reuse
		if dir == "" {
			if dir, err = os.MkdirTemp(os.Getenv("NARDEDUP_SCALE_DIR"), "scalegen-"); err != nil {
				t.Fatal(err)
			}
		}
		f := measureScale(t, dir, int(n), reuse != "")
		if reuse == "" {
			os.RemoveAll(dir)
		}
		all = append(all, f)
		t.Logf("%.0e chunks: %+v", n, f)
	}
	report(t, all)
}

func measureScale(t *testing.T, dir string, target int, reused bool) figures {
	ctx := context.Background()
	var f figures
	g := scalegen.New(scalegen.Options{Seed: 1, Chunks: target})
	index := filepath.Join(dir, "ingest.db")
	names := os.Getenv("NARDEDUP_SCALE_DEDUP") == "names"
	if names {
		index = ""
	}
	start := time.Now()
	var gs scalegen.Stats
	if !reused {
		gs = generate(t, filepath.Join(dir, "repo"), index, g)
		f.genTime = time.Since(start)
	}

	be, err := local.OpenUnsynced(filepath.Join(dir, "repo"))
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	f.indexObjects, f.manifest = objectBytes(t, be, "index/"), objectBytes(t, be, "manifests/")
	f.stored = int64(objectBytes(t, be, ""))

	// A new server, every request counted: it reads by the manifests'
	// locations, and keeps a local index only for a repository of a
	// format before 2.
	cnt := &listCounter{Backend: faulty.New(be)}
	start = time.Now()
	rp, err := repo.Open(ctx, cnt, repo.Options{ReadOnly: true, Chunks: chunkstore.Options{IndexPath: filepath.Join(dir, "serve.db")}})
	if err != nil {
		t.Fatal(err)
	}
	f.openTime = time.Since(start)
	hs := httptest.NewServer(server.New(rp.NARs(), server.Options{Compression: "none",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	fetchNAR(t, hs.URL, g.Hash(g.Packages()-1, g.Generations()-1))
	f.firstNAR = time.Since(start)
	hs.Close()
	fb := cnt.Backend.(*faulty.Backend)
	f.lists, f.gets, f.stats, f.listed = fb.Calls(faulty.OpList), fb.Calls(faulty.OpGet), fb.Calls(faulty.OpStat), int(cnt.listed.Load())
	rp.Close()
	if fi, err := os.Stat(filepath.Join(dir, "serve.db")); err == nil {
		f.serverIndex = float64(fi.Size())
		os.Remove(filepath.Join(dir, "serve.db"))
	}

	// What was generated, counted before the ingest is watched: listing
	// and walking the index are not the ingest's work, and the pages of
	// the index a walk touches would stay in the resident set.
	if names {
		// Every chunk stored is new: no chunk is stored twice in one
		// process while pending or remembered.
		// (A reused repository's are counted by gc, below.)
		f.packs, f.chunks = countObjects(t, be, "packs/"), int(gs.New)
	} else {
		rp, err := repo.Open(ctx, be, repo.Options{Chunks: ingestOptions(index)})
		if err != nil {
			t.Fatal(err)
		}
		f.packs, f.chunks, err = rp.Chunks().IndexStats()
		rp.Close()
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(index)
		if err != nil {
			t.Fatal(err)
		}
		f.indexFile = float64(fi.Size()) / float64(f.chunks)
	}
	f.nars = countObjects(t, be, "manifests/")
	f.manifest /= float64(f.nars)

	// An ingest with its index up to date stores a batch of the next
	// generation (of the one after, in a reused repository). Its memory
	// is what the process grows by. The batch comes from a generator of
	// the same seed but fewer packages, whose first ones are the same:
	// the full description of the repository would stay live beside the
	// ingest, and with Go's collector pacing the heap by what is live,
	// the ingest's garbage would grow with it.
	n, gen := min(batchNARs, g.Packages()), g.Generations()
	if reused {
		gen++
	}
	bg := scalegen.New(scalegen.Options{Seed: 1, Chunks: min(target, 100_000)})
	for i := range n {
		if bg.StorePath(i, gen) != g.StorePath(i, gen) {
			t.Fatalf("the batch's generator differs at package %d", i)
		}
	}
	g = nil
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heapBase, rssBase := ms.HeapInuse, vmStatus("VmRSS:")
	resetPeakRSS()
	stop := peakHeap(&f.heap)
	start = time.Now()
	rp, err = repo.Open(ctx, be, repo.Options{Chunks: ingestOptions(index)})
	if err != nil {
		t.Fatal(err)
	}
	defer rp.Close()
	if _, err := bg.Put(ctx, rp, gen, 0, n); err != nil {
		t.Fatal(err)
	}
	f.ingestTime = time.Since(start)
	stop()
	f.heap -= min(f.heap, heapBase)
	f.rss = vmStatus("VmHWM:")
	f.rss -= min(f.rss, rssBase)
	f.batch = int64(objectBytes(t, be, "")) - f.stored
	t.Logf("%d chunks, before gc: %+v", f.chunks, f)

	// A collection that changes nothing, its live set watched. After
	// names dedup, it fills a local index of its own from the index
	// objects first, as `nardedup gc` does, and that is timed with it.
	var tmp uint64
	stop = peakLiveSet(&tmp)
	start = time.Now()
	grp := rp
	if names {
		os.Remove(filepath.Join(dir, "gc.db")) // of a run cut short
		if grp, err = repo.Open(ctx, be, repo.Options{Chunks: ingestOptions(filepath.Join(dir, "gc.db"))}); err != nil {
			t.Fatal(err)
		}
		defer grp.Close()
	}
	rep, err := gc.Collect(ctx, grp, gc.Options{DryRun: true, Grace: -1, TempDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	f.gcTime = time.Since(start)
	stop()
	f.liveChunks = rep.LiveChunks
	f.gcTemp = float64(tmp) / float64(rep.LiveChunks)
	if reused && names {
		if f.packs, f.chunks, err = grp.Chunks().IndexStats(); err != nil {
			t.Fatal(err)
		}
	}
	f.serverIndex /= float64(f.chunks)
	f.indexObjects /= float64(f.chunks)
	return f
}

// listCounter counts the objects its backend lists.
type listCounter struct {
	backend.Backend
	listed atomic.Int64
}

func (c *listCounter) List(ctx context.Context, prefix string, fn func(backend.Info) error) error {
	return c.Backend.List(ctx, prefix, func(fi backend.Info) error {
		c.listed.Add(1)
		return fn(fi)
	})
}

// objectBytes returns the bytes of the objects under prefix.
func objectBytes(t *testing.T, be backend.Backend, prefix string) float64 {
	var n int64
	if err := be.List(context.Background(), prefix, func(fi backend.Info) error { n += fi.Size; return nil }); err != nil {
		t.Fatal(err)
	}
	return float64(n)
}

// countObjects returns the number of objects under prefix.
func countObjects(t *testing.T, be backend.Backend, prefix string) int {
	n := 0
	if err := be.List(context.Background(), prefix, func(backend.Info) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// watch calls sample every few milliseconds until the returned function
// is called.
func watch(sample func()) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			sample()
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// peakHeap keeps the largest HeapInuse in *peak.
func peakHeap(peak *uint64) (stop func()) {
	return watch(func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		*peak = max(*peak, ms.HeapInuse)
	})
}

// peakLiveSet keeps in *peak the largest size of gc's live set, a file
// that is removed while open and so is found among the process's open
// files.
func peakLiveSet(peak *uint64) (stop func()) {
	return watch(func() {
		fds, _ := os.ReadDir("/proc/self/fd")
		for _, fd := range fds {
			p := filepath.Join("/proc/self/fd", fd.Name())
			if l, _ := os.Readlink(p); strings.Contains(l, "nardedup-gc-") {
				if fi, err := os.Stat(p); err == nil {
					*peak = max(*peak, uint64(fi.Size()))
				}
			}
		}
	})
}

// resetPeakRSS resets the process's peak resident set (Linux).
func resetPeakRSS() { os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// vmStatus returns a size in bytes from the process's status, such as
// "VmRSS:" (resident now) or "VmHWM:" (its peak since resetPeakRSS);
// 0 where there is no /proc (not Linux).
func vmStatus(field string) uint64 {
	b, _ := os.ReadFile("/proc/self/status")
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, field); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// report prints the figures as a Markdown table, then, for each figure,
// the exponent b of the power law a·chunks^b fitted to them and the value
// it projects at 5·10⁹ chunks.
func report(t *testing.T, all []figures) {
	var b strings.Builder
	b.WriteString("| chunks | packs | NARs | generate | bbolt B/chunk: ingest, server | index obj B/chunk | manifest B/NAR | new server: open / first NAR | LIST (objects) / GET / STAT | ingest 1000 NARs: time, peak heap / RSS growth | stored MB, batch added KB | gc dry run | gc temp B/live chunk |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, f := range all {
		fmt.Fprintf(&b, "| %d | %d | %d | %s | %.1f, %.1f | %.1f | %.0f | %s / %s | %d (%d) / %d / %d | %s, %d / %d MiB | %.2f, %.1f | %s | %.1f |\n",
			f.chunks, f.packs, f.nars, f.genTime.Round(time.Second), f.indexFile, f.serverIndex, f.indexObjects, f.manifest,
			f.openTime.Round(time.Millisecond), f.firstNAR.Round(time.Millisecond), f.lists, f.listed, f.gets, f.stats,
			f.ingestTime.Round(time.Millisecond), f.heap>>20, f.rss>>20, float64(f.stored)/1e6, float64(f.batch)/1e3, f.gcTime.Round(time.Millisecond), f.gcTemp)
	}
	if len(all) > 1 {
		b.WriteString("\nfitted a·chunks^b, projected to 5e9 chunks:\n")
		for _, m := range []struct {
			name string
			get  func(figures) float64
		}{
			{"ingest bbolt B/chunk", func(f figures) float64 { return f.indexFile }},
			{"index obj B/chunk", func(f figures) float64 { return f.indexObjects }},
			{"manifest B/NAR", func(f figures) float64 { return f.manifest }},
			{"NARs", func(f figures) float64 { return float64(f.nars) }},
			{"packs", func(f figures) float64 { return float64(f.packs) }},
			{"new server open s", func(f figures) float64 { return f.openTime.Seconds() }},
			{"new server first NAR s", func(f figures) float64 { return f.firstNAR.Seconds() }},
			{"new server GETs", func(f figures) float64 { return float64(f.gets) }},
			{"new server objects listed", func(f figures) float64 { return float64(f.listed) }},
			{"ingest peak heap B", func(f figures) float64 { return float64(f.heap) }},
			{"ingest peak RSS B", func(f figures) float64 { return float64(f.rss) }},
			{"gc dry run s", func(f figures) float64 { return f.gcTime.Seconds() }},
			{"gc temp B/live chunk", func(f figures) float64 { return f.gcTemp }},
		} {
			a, e := fit(all, m.get)
			fmt.Fprintf(&b, "  %-26s b=%5.2f  at 5e9: %.3g\n", m.name, e, a*math.Pow(5e9, e))
		}
	}
	t.Log("\n" + b.String())
}

// fit fits y = a·chunks^b to the figures by least squares on logarithms.
func fit(all []figures, y func(figures) float64) (a, b float64) {
	var sx, sy, sxx, sxy, n float64
	for _, f := range all {
		x, v := math.Log(float64(f.chunks)), math.Log(y(f))
		sx, sy, sxx, sxy, n = sx+x, sy+v, sxx+x*x, sxy+x*v, n+1
	}
	b = (n*sxy - sx*sy) / (n*sxx - sx*sx)
	return math.Exp((sy - b*sx) / n), b
}
