package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nardedup/nardedup/chunkstore"
	nrepo "github.com/nardedup/nardedup/repo"
	"github.com/nardedup/nardedup/server"
)

// BenchmarkServeNAR GETs the largest sample NAR through a loopback HTTP
// connection from a warm repository.
func BenchmarkServeNAR(b *testing.B) {
	r := newRepo(b)
	ts := r.serve(b, server.Options{})
	u := r.largest(b)
	url := ts.URL + "/nar/" + narName(b, u.ni) + ".nar"
	client := ts.Client()
	get := func() {
		resp, err := client.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || uint64(n) != u.ni.NarSize {
			b.Fatalf("GET %s: got status %d, %d bytes, error %v; want 200, %d, nil", url, resp.StatusCode, n, err, u.ni.NarSize)
		}
	}
	get() // warm the repository's caches and the connection
	b.SetBytes(int64(u.ni.NarSize))
	b.ReportAllocs()
	for b.Loop() {
		get()
	}
}

// BenchmarkServeBigNAR GETs a 64 MiB NAR of incompressible data through
// the real HTTP server, by 1 and by 8 clients at once, plain and
// zstd-compressed; MB/s counts the NAR bytes of all clients.
func BenchmarkServeBigNAR(b *testing.B) {
	r := newRepo(b)
	nar, name := r.putBigNAR(b, 64<<20)
	for _, comp := range []string{"none", "zstd"} {
		addr := r.serveReal(b, server.Options{Compression: comp}, server.HTTPOptions{})
		url := "http://" + addr + "/nar/" + name + ".nar"
		if comp == "zstd" {
			url += ".zst"
		}
		for _, clients := range []int{1, 8} {
			b.Run(fmt.Sprintf("%s/clients=%d", comp, clients), func(b *testing.B) {
				c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, DisableCompression: true}}
				b.SetBytes(int64(len(nar) * clients))
				for b.Loop() {
					var wg sync.WaitGroup
					for range clients {
						wg.Go(func() {
							n, _, err := getHashed(c, url)
							if err != nil || (comp == "none" && n != int64(len(nar))) {
								b.Errorf("GET %s: %d bytes, error %v; want %d", url, n, err, len(nar))
							}
						})
					}
					wg.Wait()
				}
			})
		}
	}
}

// BenchmarkServeCPU GETs one NAR, $NARDEDUP_BENCH_NAR (a .nar.xz file) or
// else 32 MiB of incompressible data, through a loopback HTTP connection
// by 1 and 8 clients: from a static file server (the limit), and from
// the server cold (every frame decoded: a server just started), warm
// (frames cached) and from the NAR cache. Besides MB/s it reports
// the process's CPU time per MB served (cpu-ms/MB, server and clients
// alike), which the load of a shared machine disturbs less.
func BenchmarkServeCPU(b *testing.B) {
	r := newRepo(b)
	var nar []byte
	var name string
	if f := os.Getenv("NARDEDUP_BENCH_NAR"); f != "" {
		out, err := exec.Command("xz", "-dc", f).Output()
		check(b, err)
		nar, name = out, r.putNAR(b, out)
	} else {
		nar, name = r.putBigNAR(b, 32<<20)
	}
	ctx := context.Background()
	static := b.TempDir()
	check(b, os.MkdirAll(filepath.Join(static, "nar"), 0o755))
	check(b, os.WriteFile(filepath.Join(static, "nar", name+".nar"), nar, 0o644))
	for _, bc := range []struct {
		name     string
		frames   int64
		narCache bool
	}{{"static", 0, false}, {"cold", 0, false}, {"warm", 4 * int64(len(nar)), false}, {"nar-cache", 0, true}} {
		var addr string
		if bc.name == "static" {
			// The limit: a static file server (sendfile) over the NAR.
			ts := httptest.NewServer(http.FileServer(http.Dir(static)))
			b.Cleanup(ts.Close)
			addr = ts.Listener.Addr().String()
		} else {
			rp, err := nrepo.Open(ctx, r.be, nrepo.Options{Chunks: chunkstore.Options{
				IndexPath: filepath.Join(b.TempDir(), "index.db"), FrameCache: bc.frames}})
			check(b, err)
			b.Cleanup(func() { rp.Close() })
			opts := server.Options{Compression: "none", MaxConcurrentNARs: -1, MaxStreamsPerClient: -1}
			if bc.narCache {
				opts.NARCache, err = server.OpenNARCache(filepath.Join(b.TempDir(), "nars"), 4*int64(len(nar)))
				check(b, err)
			}
			rr := &repo{be: r.be, rp: rp, st: rp.NARs()}
			addr = rr.serveReal(b, opts, server.HTTPOptions{})
		}
		url := "http://" + addr + "/nar/" + name + ".nar"
		for _, clients := range []int{1, 8} {
			b.Run(fmt.Sprintf("%s/clients=%d", bc.name, clients), func(b *testing.B) {
				c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, DisableCompression: true}}
				get := func() {
					var wg sync.WaitGroup
					for range clients {
						wg.Go(func() {
							if n, err := getCounted(c, url); err != nil || n != int64(len(nar)) {
								b.Errorf("GET %s: %d bytes, error %v; want %d", url, n, err, len(nar))
							}
						})
					}
					wg.Wait()
				}
				if bc.name != "cold" {
					get() // fill the caches
				}
				b.SetBytes(int64(len(nar) * clients))
				b.ReportAllocs()
				cpu0 := cpuTime()
				for b.Loop() {
					get()
				}
				mb := float64(len(nar)*clients*b.N) / 1e6
				b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/mb, "cpu-ms/MB")
			})
		}
	}
}

// getCounted GETs url and returns the length of the body.
func getCounted(c *http.Client, url string) (int64, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %d", resp.StatusCode)
	}
	return n, err
}

// cpuTime returns the user and system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
