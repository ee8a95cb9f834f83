package proxy_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/local"
	"github.com/nardedup/nardedup/ingest"
	"github.com/nardedup/nardedup/internal/nixtest"
	"github.com/nardedup/nardedup/internal/testrepo"
	"github.com/nardedup/nardedup/narfmt"
	"github.com/nardedup/nardedup/narfmt/narinfo"
	"github.com/nardedup/nardedup/pathstrip"
	"github.com/nardedup/nardedup/proxy"
	"github.com/nardedup/nardedup/repo"
	"github.com/nardedup/nardedup/server"
	"github.com/nardedup/nardedup/source"
)

// meter is a reverse proxy that counts the bytes of the answers it
// relays, by kind of object.
type meter struct {
	mu    sync.Mutex
	bytes map[string]int64
	reqs  map[string]int64
}

func kindOf(p string) string {
	if rest, ok := strings.CutPrefix(p, server.ReadAPIPrefix); ok {
		kind, _, _ := strings.Cut(rest, "/")
		return kind
	}
	switch {
	case strings.HasSuffix(p, ".narinfo"):
		return "narinfo"
	case strings.HasPrefix(p, "/nar/"):
		return "nar"
	}
	return "other"
}

func (m *meter) reset() map[string]int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.bytes
	m.bytes, m.reqs = make(map[string]int64), make(map[string]int64)
	return b
}

func (m *meter) handler(next string) http.Handler {
	u, err := url.Parse(next)
	if err != nil {
		panic(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cw := &countWriter{ResponseWriter: w}
		rp.ServeHTTP(cw, r)
		m.mu.Lock()
		m.bytes[kindOf(r.URL.Path)] += cw.n
		m.reqs[kindOf(r.URL.Path)]++
		m.mu.Unlock()
	})
}

type countWriter struct {
	http.ResponseWriter
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.ResponseWriter.Write(b)
	c.n += int64(n)
	return n, err
}

func (c *countWriter) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// packBytes returns the bytes of the repository's packs.
func packBytes(t *testing.T, be backend.Backend) int64 {
	t.Helper()
	var n int64
	must(t, be.List(context.Background(), "packs/", func(i backend.Info) error { n += i.Size; return nil }))
	return n
}

// generation is one generation of a corpus as the proxy sees it.
type generation struct {
	paths    []string
	fileSize map[string]uint64      // nar.xz bytes by store path
	narHash  map[string]narfmt.Hash // by store path
}

func readGeneration(t *testing.T, corpus string, k int) generation {
	t.Helper()
	g := generation{fileSize: make(map[string]uint64), narHash: make(map[string]narfmt.Hash)}
	f, err := os.Open(filepath.Join(corpus, fmt.Sprintf("gen-%d.paths", k)))
	must(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if p := strings.TrimSpace(sc.Text()); p != "" {
			g.paths = append(g.paths, p)
		}
	}
	files, err := filepath.Glob(filepath.Join(corpus, fmt.Sprintf("gen-%d", k), "*.narinfo"))
	must(t, err)
	for _, file := range files {
		text, err := os.ReadFile(file)
		must(t, err)
		ni, err := narinfo.Parse(bytes.NewReader(text))
		must(t, err)
		g.fileSize[ni.StorePath] = ni.FileSize
		g.narHash[ni.StorePath], err = ni.NarSHA256()
		must(t, err)
	}
	return g
}

// nixCopy has real Nix copy paths from a binary cache into store, with
// signatures required.
func nixCopy(t *testing.T, store, from, key string, paths []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	args := append([]string{"--extra-experimental-features", "nix-command", "copy",
		"--from", from, "--to", store,
		"--option", "trusted-public-keys", key, "--option", "require-sigs", "true",
		"--option", "narinfo-cache-negative-ttl", "0"}, paths...)
	cmd := exec.CommandContext(ctx, "nix", args...)
	cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+filepath.Join(t.TempDir(), "cache"), "NIX_REMOTE=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nix copy --from %s: %v\n%s", from, err, out)
	}
}

// TestMeasureGenerations has real Nix substitute each generation of the
// small corpus through the proxy into one store, after the generation
// before it, and counts the bytes between the proxy and the server
// against the nar.xz bytes of the generation's new store paths.
// NARDEDUP_MEASURE_CORPUS=medium-4 measures the medium corpus instead.
func TestMeasureGenerations(t *testing.T) {
	if testing.Short() {
		t.Skip("substitutes a corpus with Nix")
	}
	size, gens := "small", 3
	if v := os.Getenv("NARDEDUP_MEASURE_CORPUS"); v != "" {
		if _, err := fmt.Sscanf(strings.Replace(v, "-", " ", 1), "%s %d", &size, &gens); err != nil {
			t.Fatalf("NARDEDUP_MEASURE_CORPUS=%s: want SIZE-GENERATIONS", v)
		}
	}
	corpus := nixtest.Corpus(t, size, gens)
	var manifest struct {
		PublicKey string `json:"public_key"`
	}
	b, err := os.ReadFile(filepath.Join(corpus, "manifest.json"))
	must(t, err)
	must(t, json.Unmarshal(b, &manifest))

	work := t.TempDir()
	be, err := local.Open(filepath.Join(work, "repo"))
	must(t, err)
	defer be.Close()
	rp := testrepo.Open(t, be, repo.DefaultConfig(), filepath.Join(work, "index.db"))
	newChunks := []int64{0}
	for k := 1; k <= gens; k++ {
		before := packBytes(t, be)
		_, err := ingest.Run(context.Background(), source.NewDir(filepath.Join(corpus, fmt.Sprintf("gen-%d", k))), rp, ingest.Options{})
		must(t, err)
		newChunks = append(newChunks, packBytes(t, be)-before)
	}
	srv := httptest.NewServer(server.New(rp.NARs(), server.Options{Logger: quiet,
		ReadAPI: &server.ReadAPI{Objects: be, Config: rp.Config().NARs}}))
	defer srv.Close()
	m := &meter{}
	m.reset()
	mid := httptest.NewServer(m.handler(srv.URL))
	defer mid.Close()
	p, err := proxy.New(proxy.Options{Upstream: mid.URL, CacheDir: filepath.Join(work, "proxy"), Logger: quiet})
	must(t, err)
	ps := httptest.NewServer(p)
	defer ps.Close()

	store := filepath.Join(work, "store")
	var prev generation
	for k := 1; k <= gens; k++ {
		g := readGeneration(t, corpus, k)
		before := p.Stats()
		m.reset()
		nixCopy(t, store, ps.URL, manifest.PublicKey, g.paths)
		moved := m.reset()
		st := p.Stats()
		var xz int64
		have := make(map[string]bool)
		for _, sp := range prev.paths {
			have[sp] = true
		}
		newPaths, pathTables := 0, 0
		for _, sp := range g.paths {
			if !have[sp] {
				xz += int64(g.fileSize[sp])
				newPaths++
				mf, err := rp.NARs().Manifest(context.Background(), g.narHash[sp])
				must(t, err)
				pathTables += len(pathstrip.EncodePaths(mf.Paths))
			}
		}
		var total int64
		for _, n := range moved {
			total += n
		}
		t.Logf("generation %d: %d new store paths, %d bytes of nar.xz, %d bytes of new packs; "+
			"moved %d bytes (%.1f %% of nar.xz, %.1f %% of new packs): %v, of the manifests %d bytes of path tables; "+
			"frames %d, chunks held %d, fetched %d",
			k, newPaths, xz, newChunks[k], total, 100*float64(total)/float64(xz),
			100*float64(total)/float64(newChunks[k]), moved, pathTables, st.Frames-before.Frames,
			st.ChunksHeld-before.ChunksHeld, st.ChunksFetched-before.ChunksFetched)
		if moved["nar"] != 0 {
			t.Errorf("generation %d: %d bytes of NARs passed through", k, moved["nar"])
		}
		// The goals: a mass rebuild moves at most 5 % of its nar.xz, a
		// version bump at most its new chunks' compressed bytes plus 10 %.
		if goal := xz/20 + newChunks[k]*11/10; k > 1 && total > goal {
			t.Errorf("generation %d: %d bytes moved, more than the goal of %d", k, total, goal)
		}
		prev = g
	}
}
