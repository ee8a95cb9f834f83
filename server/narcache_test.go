package server_test

import (
	"context"
	"crypto/sha256"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/nardedup/nardedup/server"
)

// serveCached serves the repository with a NAR cache of max bytes in a
// new directory, which it returns.
func (r *repo) serveCached(t *testing.T, max int64) (url string, c *server.NARCache, dir string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "nars")
	c, err := server.OpenNARCache(dir, max)
	check(t, err)
	return r.serve(t, server.Options{Compression: "none", NARCache: c}).URL, c, dir
}

// wantNAR GETs a NAR and checks that it comes whole and right.
func wantNAR(t *testing.T, url string, want []byte) {
	t.Helper()
	n, sum, err := getHashed(http.DefaultClient, url)
	if err != nil || n != int64(len(want)) || sum != sha256.Sum256(want) {
		t.Errorf("GET %s: %d bytes, error %v; want the NAR's %d bytes", url, n, err, len(want))
	}
}

// TestNARCacheServes checks that a NAR served once is then served from
// the cache, even with the repository's packs gone.
func TestNARCacheServes(t *testing.T) {
	r := newRepo(t)
	nar, name := r.putBigNAR(t, 1<<20)
	url, c, dir := r.serveCached(t, 64<<20)
	wantNAR(t, url+"/nar/"+name+".nar", nar)
	if n, size := c.Stats(); n != 1 || size != int64(len(nar)) {
		t.Fatalf("after one GET the cache holds %d entries, %d bytes; want 1, %d", n, size, len(nar))
	}
	for _, key := range r.keys(t, "packs/") {
		check(t, r.be.Delete(context.Background(), key))
	}
	wantNAR(t, url+"/nar/"+name+".nar", nar)
	// A cache opened again on the directory keeps the entry.
	c2, err := server.OpenNARCache(dir, 64<<20)
	check(t, err)
	if n, _ := c2.Stats(); n != 1 {
		t.Errorf("reopened cache holds %d entries, want 1", n)
	}
}

// TestNARCacheDamaged checks that a damaged entry is never served: a
// small one is replaced by the repository's NAR before the answer starts,
// a large one fails before its last byte; both are removed.
func TestNARCacheDamaged(t *testing.T) {
	r := newRepo(t)
	u := r.upstream(t)[0]
	for _, v := range r.upstream(t) {
		if v.ni.NarSize < u.ni.NarSize {
			u = v
		}
	}
	small := u.ni.NarSize
	nar, name := r.putBigNAR(t, 1<<20)
	url, c, dir := r.serveCached(t, 64<<20)
	smallURL := url + "/nar/" + narName(t, u.ni) + ".nar"
	resp, want, err := fetch(t, http.MethodGet, smallURL)
	check(t, err)
	if resp.StatusCode != http.StatusOK || uint64(len(want)) != small {
		t.Fatalf("GET %s: status %d, %d bytes", smallURL, resp.StatusCode, len(want))
	}
	if small > 64<<10 {
		t.Fatalf("the sample's smallest NAR has %d bytes, more than one buffer: not a small one", small)
	}
	bigURL := url + "/nar/" + name + ".nar"
	wantNAR(t, bigURL, nar)
	damage := func(h string, off int) {
		f := filepath.Join(dir, h+".nar")
		data, err := os.ReadFile(f)
		check(t, err)
		data[off] ^= 1
		check(t, os.WriteFile(f, data, 0o644))
	}
	damage(narName(t, u.ni), int(small)/2)
	damage(name, len(nar)-100)

	wantNAR(t, smallURL, want)
	checkNoCompleteNAR(t, bigURL, uint64(len(nar)))
	if _, err := os.Stat(filepath.Join(dir, name+".nar")); !os.IsNotExist(err) {
		t.Errorf("damaged entry %s still in the cache directory (error %v)", name, err)
	}
	if n, _ := c.Stats(); n != 1 {
		t.Errorf("the cache holds %d entries, want 1: the small NAR written again", n)
	}
	wantNAR(t, bigURL, nar)
	wantNAR(t, smallURL, want)
}

// TestNARCacheBound checks that the entries never exceed the bound.
func TestNARCacheBound(t *testing.T) {
	r := newRepo(t)
	infos := r.upstream(t)
	max := int64(r.largest(t).ni.NarSize) * 2
	url, c, dir := r.serveCached(t, max)
	for _, u := range append(infos, infos...) {
		_, _, err := fetch(t, http.MethodGet, url+"/nar/"+narName(t, u.ni)+".nar")
		check(t, err)
		var onDisk int64
		ents, err := os.ReadDir(dir)
		check(t, err)
		for _, e := range ents {
			fi, err := e.Info()
			check(t, err)
			onDisk += fi.Size()
		}
		if n, size := c.Stats(); size > max || onDisk > max || n == 0 {
			t.Fatalf("cache holds %d entries, %d bytes (%d on disk); bound %d", n, size, onDisk, max)
		}
	}
}

// TestNARCacheFillOnce checks that concurrent first requests for a NAR
// write its entry once.
func TestNARCacheFillOnce(t *testing.T) {
	r := newRepo(t)
	nar, name := r.putBigNAR(t, 8<<20)
	url, c, _ := r.serveCached(t, 64<<20)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 8 {
		wg.Go(func() {
			<-start
			wantNAR(t, url+"/nar/"+name+".nar", nar)
		})
	}
	close(start)
	wg.Wait()
	if got := c.Stored(); got != 1 {
		t.Errorf("8 concurrent GETs wrote %d entries, want 1", got)
	}
}
