package bench

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/internal/faulty"
	"github.com/nardedup/nardedup/narfmt/nixhash"
	"github.com/nardedup/nardedup/repo"
	"github.com/nardedup/nardedup/server"
)

// ServeRow is one load run: Clients concurrent clients fetch every NAR of
// the generation once between them.
type ServeRow struct {
	Server   string  `json:"server"` // nardedup, nardedup-warm (the same server again) or static
	Clients  int     `json:"clients"`
	Requests int     `json:"requests"`
	Bytes    int64   `json:"bytes"` // NAR bytes received, each checked against NarHash
	Seconds  float64 `json:"seconds"`
	MBps     float64 `json:"mb_per_s"`
	TTFB50   float64 `json:"ttfb_p50_s"` // request sent to first response byte
	TTFB99   float64 `json:"ttfb_p99_s"`
	CPU      float64 `json:"cpu_seconds"` // this process: server and clients
	PeakRSS  int64   `json:"peak_rss"`    // this process: server and clients
	// FrameCache is the size of nardedup's frame cache; FrameHits and
	// FrameMisses count the frame reads it answered and decoded.
	FrameCache  int64 `json:"frame_cache,omitempty"`
	FrameHits   int64 `json:"frame_hits,omitempty"`
	FrameMisses int64 `json:"frame_misses,omitempty"`
	// BackendReads counts the Get, Stat and List calls the nardedup
	// server made to the repository's backend during the run.
	BackendReads int64 `json:"backend_reads,omitempty"`
}

// DefaultServeClients are the client counts of the serve measurement.
func DefaultServeClients() []int { return []int{1, 8, 64} }

// fetchTarget is one NAR to fetch.
type fetchTarget struct {
	path   string // URL path, the same on both servers
	size   int64
	digest string // nixbase32 sha256
}

// runServe serves the last generation's NARs from rp and, alongside, from
// a static file server over the same uncompressed NAR files.
func (r *runner) runServe(ctx context.Context, sp *Speed, rp *scratchRepo, rc *rawCorpus) error {
	g := rc.gens[len(rc.gens)-1]
	var targets []fetchTarget
	for _, e := range g.Entries {
		f := rc.byHash[e.NarHash]
		targets = append(targets, fetchTarget{path: "/nar/" + f.Digest + ".nar", size: e.NarSize, digest: f.Digest})
		sp.ServeBytes += e.NarSize
	}
	sp.ServeGen, sp.ServeNARs = g.Name, len(targets)
	clients := r.opts.ServeClients
	if clients == nil {
		clients = DefaultServeClients()
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	// The frame cache holds the whole generation: a warm server, as one
	// sized for its popular NARs is.
	frames := max(chunkstore.DefaultFrameCache, 2*sp.ServeBytes)
	var cold, warm, static []ServeRow
	for _, n := range clients {
		// A server of its own for each client count, started cold: a
		// fresh local index and an empty frame cache (the page cache is
		// warm). It then serves the generation again.
		cnt := faulty.New(rp.be) // counts the backend reads, injects nothing
		fst, closeStore, err := reopen(ctx, cnt, filepath.Join(rp.dir, fmt.Sprintf("serve-%d.db", n)), frames)
		if err != nil {
			return err
		}
		// The clients share one loopback address: no per-client bound.
		h := server.New(fst.NARs(), server.Options{Compression: "none", Logger: quiet, MaxStreamsPerClient: -1})
		for pass, rows := range []*[]ServeRow{&cold, &warm} {
			h0, m0, _ := fst.Chunks().FrameCacheStats()
			b0 := backendReads(cnt)
			row, err := serveRun(ctx, h, targets, n)
			if err != nil {
				closeStore()
				return fmt.Errorf("bench: serve nardedup to %d clients: %w", n, err)
			}
			h1, m1, _ := fst.Chunks().FrameCacheStats()
			row.Server = []string{"nardedup", "nardedup-warm"}[pass]
			row.FrameCache, row.FrameHits, row.FrameMisses = frames, h1-h0, m1-m0
			row.BackendReads = backendReads(cnt) - b0
			*rows = append(*rows, row)
			r.logf("serve %s, %d clients: %.1f MB/s, TTFB p50 %.1f ms, p99 %.1f ms, frames %d hits %d misses",
				row.Server, n, row.MBps, 1e3*row.TTFB50, 1e3*row.TTFB99, row.FrameHits, row.FrameMisses)
		}
		closeStore()
	}
	for _, n := range clients {
		row, err := serveRun(ctx, http.FileServer(http.Dir(rc.cache)), targets, n)
		if err != nil {
			return fmt.Errorf("bench: serve static to %d clients: %w", n, err)
		}
		row.Server = "static"
		static = append(static, row)
		r.logf("serve static, %d clients: %.1f MB/s, TTFB p50 %.1f ms, p99 %.1f ms", n, row.MBps, 1e3*row.TTFB50, 1e3*row.TTFB99)
	}
	sp.ServeFrameCache = frames
	sp.Serve = append(append(append(sp.Serve, cold...), warm...), static...)
	return nil
}

// backendReads counts the reads made through f.
func backendReads(f *faulty.Backend) int64 {
	return int64(f.Calls(faulty.OpGet) + f.Calls(faulty.OpStat) + f.Calls(faulty.OpList))
}

// reopen opens the repository on be a second time, with a local index of
// its own at indexPath and a frame cache of frames bytes.
func reopen(ctx context.Context, be backend.Backend, indexPath string, frames int64) (*repo.Repo, func(), error) {
	fresh, err := repo.Open(ctx, be, repo.Options{Chunks: chunkstore.Options{IndexPath: indexPath, FrameCache: frames}, ReadOnly: true})
	if err != nil {
		return nil, nil, fmt.Errorf("bench: open the repository to serve it: %w", err)
	}
	return fresh, func() { fresh.Close(); os.Remove(indexPath) }, nil
}

// serveRun starts h on a loopback listener and has n clients fetch every
// target once between them.
func serveRun(ctx context.Context, h http.Handler, targets []fetchTarget, n int) (ServeRow, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return ServeRow{}, err
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- server.Serve(sctx, ln, h, server.HTTPOptions{}) }()
	row, err := load(ctx, "http://"+ln.Addr().String(), targets, n)
	cancel()
	if serr := <-done; err == nil && serr != nil {
		err = fmt.Errorf("serve: %w", serr)
	}
	return row, err
}

// load fetches every target once with n concurrent clients.
func load(ctx context.Context, base string, targets []fetchTarget, n int) (ServeRow, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: n, DisableCompression: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	ttfb := make([]float64, len(targets))
	var received atomic.Int64
	idx := make([]int, len(targets))
	for i := range idx {
		idx[i] = i
	}
	row := ServeRow{Clients: n, Requests: len(targets)}
	resetPeakRSS()
	start, cpu := time.Now(), cpuSeconds()
	err := forEach(n, idx, func(i int) error {
		got, d, err := fetch(ctx, c, base, targets[i])
		received.Add(got)
		ttfb[i] = d
		return err
	})
	row.Seconds, row.CPU, row.PeakRSS = time.Since(start).Seconds(), cpuSeconds()-cpu, peakRSS()
	row.Bytes = received.Load()
	if row.Seconds > 0 {
		row.MBps = float64(row.Bytes) / 1e6 / row.Seconds
	}
	row.TTFB50, row.TTFB99 = percentile(ttfb, 50), percentile(ttfb, 99)
	return row, err
}

// fetch GETs one NAR, checks it and returns its size and time to first
// byte.
func fetch(ctx context.Context, c *http.Client, base string, t fetchTarget) (int64, float64, error) {
	var first time.Time
	trace := &httptrace.ClientTrace{GotFirstResponseByte: func() { first = time.Now() }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, base+t.path, nil)
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("GET %s: %w", t.path, err)
	}
	defer resp.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	if err != nil {
		return n, 0, fmt.Errorf("GET %s: %w", t.path, err)
	}
	if got := nixhash.FromHash(nixhash.SHA256, h).Base32(); resp.StatusCode != http.StatusOK || n != t.size || got != t.digest {
		return n, 0, fmt.Errorf("GET %s: status %d, %d bytes, sha256 %s; want 200, %d, %s", t.path, resp.StatusCode, n, got, t.size, t.digest)
	}
	return n, first.Sub(start).Seconds(), nil
}

// percentile is the nearest-rank p-th percentile of xs.
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(i, 0)]
}
