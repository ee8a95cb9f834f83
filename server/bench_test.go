package server_test

import (
	"io"
	"net/http"
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
