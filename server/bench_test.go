package server_test

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"

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
