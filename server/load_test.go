package server_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nardedup/nardedup/narfmt/narinfo"
	"github.com/nardedup/nardedup/narfmt/nixbase32"
	"github.com/nardedup/nardedup/server"
)

// Environment of TestLoad: NARDEDUP_LOAD_DURATION (default 2s; 30s for a
// real measurement), NARDEDUP_LOAD_CLIENTS (256), NARDEDUP_LOAD_MAX_NARS
// (Options.MaxConcurrentNARs, default 0: sized from memory) and
// NARDEDUP_LOAD_BIG_EVERY (one fetch in N is of a 16 MiB NAR; default 16).
func loadEnv(tb testing.TB, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		d, derr := time.ParseDuration(v)
		if derr != nil {
			tb.Fatalf("%s=%q: %v", name, v, err)
		}
		n = int(d / time.Millisecond)
	}
	return n
}

// loadStats collects the outcome of a load run; it is safe for
// concurrent use.
type loadStats struct {
	mu        sync.Mutex
	narinfo   []time.Duration
	nar       []time.Duration
	bytes     atomic.Int64
	errors    atomic.Int64
	firstErrs []string
}

func (s *loadStats) fail(format string, args ...any) {
	s.errors.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.firstErrs) < 10 {
		s.firstErrs = append(s.firstErrs, fmt.Sprintf(format, args...))
	}
}

func (s *loadStats) add(narinfos, nars []time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.narinfo = append(s.narinfo, narinfos...)
	s.nar = append(s.nar, nars...)
}

// percentiles returns p50 and p99 of ds.
func percentiles(ds []time.Duration) (time.Duration, time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	slices.Sort(ds)
	return ds[len(ds)/2], ds[len(ds)*99/100]
}

// getHashed GETs url and returns the size and SHA-256 of its body.
func getHashed(c *http.Client, url string) (int64, [32]byte, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, [32]byte{}, err
	}
	defer resp.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %d", resp.StatusCode)
	}
	return n, [32]byte(h.Sum(nil)), err
}

// loadTarget is a NAR the load generator fetches, through its narinfo if
// it has one.
type loadTarget struct {
	hash    string // store path hash of the narinfo, or "" to fetch the NAR only
	narName string
	narHash [32]byte
	size    int64
}

// fetchOne fetches t's narinfo, if any, and NAR, checks them and records
// the latencies.
func fetchOne(c *http.Client, base string, t loadTarget, st *loadStats, infos, nars *[]time.Duration) {
	if t.hash != "" {
		start := time.Now()
		resp, err := c.Get(base + "/" + t.hash + ".narinfo")
		if err != nil {
			st.fail("narinfo %s: %v", t.hash, err)
			return
		}
		text, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		*infos = append(*infos, time.Since(start))
		ni, perr := narinfo.Parse(bytes.NewReader(text))
		if err != nil || perr != nil || resp.StatusCode != http.StatusOK || ni.URL != "nar/"+t.narName+".nar" {
			st.fail("narinfo %s: status %d, errors %v %v", t.hash, resp.StatusCode, err, perr)
			return
		}
	}
	start := time.Now()
	n, sum, err := getHashed(c, base+"/nar/"+t.narName+".nar")
	*nars = append(*nars, time.Since(start))
	st.bytes.Add(n)
	if err != nil || n != t.size || sum != t.narHash {
		st.fail("NAR %s: %d bytes of %d, hash match %v, error %v", t.narName, n, t.size, sum == t.narHash, err)
	}
}

// loadTargets returns the sample's NARs and a big synthetic one.
func loadTargets(t *testing.T, r *repo) (small []loadTarget, big loadTarget) {
	for _, u := range r.upstream(t) {
		name := narName(t, u.ni)
		digest, err := nixbase32.DecodeString(name)
		check(t, err)
		small = append(small, loadTarget{hash: u.hash, narName: name, narHash: [32]byte(digest), size: int64(u.ni.NarSize)})
	}
	nar, name := r.putBigNAR(t, 16<<20)
	return small, loadTarget{narName: name, narHash: sha256.Sum256(nar), size: int64(len(nar))}
}

// rssKiB returns the process's resident set (VmRSS) in KiB.
func rssKiB() int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

// peakRSS samples the resident set until stop is closed and returns the
// highest value seen.
func peakRSS(stop <-chan struct{}) <-chan int64 {
	out := make(chan int64, 1)
	go func() {
		peak := rssKiB()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				out <- peak
				return
			case <-tick.C:
				peak = max(peak, rssKiB())
			}
		}
	}()
	return out
}

// TestLoad has 256 clients fetch narinfos and NARs over loopback for a
// while: no request may fail, every NAR must hash to its NarHash. It logs
// the request rate, latency percentiles and the process's peak RSS.
func TestLoad(t *testing.T) {
	r := newRepo(t)
	small, big := loadTargets(t, r)
	maxNARs := loadEnv(t, "NARDEDUP_LOAD_MAX_NARS", 0)
	// The clients share one loopback address: no per-client bound.
	addr := r.serveReal(t, server.Options{Compression: "none", MaxConcurrentNARs: maxNARs, MaxStreamsPerClient: -1}, server.HTTPOptions{})
	clients := loadEnv(t, "NARDEDUP_LOAD_CLIENTS", 256)
	duration := time.Duration(loadEnv(t, "NARDEDUP_LOAD_DURATION", 2000)) * time.Millisecond
	bigEvery := loadEnv(t, "NARDEDUP_LOAD_BIG_EVERY", 16)
	tr := &http.Transport{MaxIdleConnsPerHost: clients, DisableCompression: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: time.Minute}
	base := "http://" + addr
	rss0 := rssKiB()
	stop := make(chan struct{})
	peak := peakRSS(stop)
	st := &loadStats{}
	start := time.Now()
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			rnd := rand.New(rand.NewSource(int64(i)))
			var infos, nars []time.Duration
			for time.Since(start) < duration {
				tgt := small[rnd.Intn(len(small))]
				if bigEvery > 0 && rnd.Intn(bigEvery) == 0 {
					tgt = big
				}
				fetchOne(c, base, tgt, st, &infos, &nars)
			}
			st.add(infos, nars)
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(stop)
	reportLoad(t, st, clients, maxNARs, elapsed, rss0, <-peak)
	if len(st.nar) == 0 || (bigEvery != 1 && len(st.narinfo) == 0) {
		t.Errorf("got %d narinfo and %d NAR requests; want some of each", len(st.narinfo), len(st.nar))
	}
}

func reportLoad(t *testing.T, st *loadStats, clients, maxNARs int, elapsed time.Duration, rss0, peak int64) {
	t.Helper()
	reqs := len(st.narinfo) + len(st.nar)
	i50, i99 := percentiles(st.narinfo)
	n50, n99 := percentiles(st.nar)
	t.Logf("%d clients, %v, MaxConcurrentNARs %d (default %d): %d requests (%.0f/s), %d errors, %.0f MB/s",
		clients, elapsed.Round(time.Millisecond), maxNARs, server.DefaultMaxConcurrentNARs(), reqs,
		float64(reqs)/elapsed.Seconds(), st.errors.Load(), float64(st.bytes.Load())/elapsed.Seconds()/1e6)
	t.Logf("narinfo: %d, p50 %v, p99 %v; NAR: %d, p50 %v, p99 %v", len(st.narinfo), i50, i99, len(st.nar), n50, n99)
	t.Logf("RSS of server and clients: %d MiB before, %d MiB peak", rss0>>10, peak>>10)
	if st.errors.Load() > 0 {
		t.Errorf("%d requests failed; first: %s", st.errors.Load(), strings.Join(st.firstErrs, "; "))
	}
}
