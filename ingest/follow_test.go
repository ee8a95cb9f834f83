package ingest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nardedup/nardedup/chunkstore/backend/local"
	"github.com/nardedup/nardedup/chunkstore/backend/metered"
	"github.com/nardedup/nardedup/ingest"
	"github.com/nardedup/nardedup/internal/nixtest"
	"github.com/nardedup/nardedup/narfmt/nixbase32"
	"github.com/nardedup/nardedup/repo/layout"
	"github.com/nardedup/nardedup/source"
	"github.com/prometheus/client_golang/prometheus"
)

// follow runs ingest.Follow on src until each of steps has run, one after
// every pass, and returns the passes. opts.Drain and opts.Pass are set
// here.
func follow(t *testing.T, src source.Source, r *repo, opts ingest.FollowOptions, steps ...func(ingest.Pass)) []ingest.Pass {
	t.Helper()
	drain := make(chan struct{})
	var passes []ingest.Pass
	opts.Options.Drain = drain
	opts.Every = time.Millisecond
	opts.Logf = t.Logf
	opts.Pass = func(p ingest.Pass) {
		passes = append(passes, p)
		if p.Err != nil {
			t.Errorf("pass %d: %v", p.N, p.Err)
		}
		if p.N <= len(steps) {
			steps[p.N-1](p)
		}
		if p.N >= len(steps) {
			close(drain)
		}
	}
	if opts.Cursor == "" {
		opts.Cursor = ingest.CursorID(src.String(), opts.List, opts.Shard)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	must(t, ingest.Follow(ctx, src, r.rp, opts))
	return passes
}

// splitBucket copies the sample cache into a new directory with its NARs
// and nix-cache-info but only every other narinfo, so that the others
// land between them in the sorted listing when they are added, and
// returns the directory and the narinfos it left out, by hash.
func splitBucket(t *testing.T) (dir string, rest map[string][]byte) {
	t.Helper()
	full := sampleBucket(t)
	dir = filepath.Join(t.TempDir(), "growing")
	must(t, os.CopyFS(dir, os.DirFS(full)))
	all := narinfos(t, full)
	rest = make(map[string][]byte)
	for i, h := range slices.Sorted(maps.Keys(all)) {
		if i%2 == 1 {
			rest[h] = all[h]
			must(t, os.Remove(filepath.Join(dir, h+".narinfo")))
		}
	}
	return dir, rest
}

// addNarInfos writes the narinfos into dir.
func addNarInfos(t *testing.T, dir string, infos map[string][]byte) {
	t.Helper()
	for h, text := range infos {
		must(t, os.WriteFile(filepath.Join(dir, h+".narinfo"), text, 0o644))
	}
}

// A directory to which narinfos are added between passes: each pass
// ingests only what was added, and everything ends up stored.
func TestFollowDirectory(t *testing.T) {
	dir, rest := splitBucket(t)
	total := len(narinfos(t, dir)) + len(rest)
	r := newRepo(t)
	src, err := source.Open(dir)
	must(t, err)
	passes := follow(t, src, r, ingest.FollowOptions{},
		func(p ingest.Pass) { addNarInfos(t, dir, rest) },
		func(ingest.Pass) {},
		func(ingest.Pass) {},
	)
	if got, want := passes[0].New, total-len(rest); got != want {
		t.Errorf("pass 1 ingested %d store paths; want %d", got, want)
	}
	if got := passes[1].New; got != len(rest) {
		t.Errorf("pass 2, after %d narinfos were added, ingested %d store paths", len(rest), got)
	}
	if got := passes[2].New; got != 0 || passes[2].Stats != nil {
		t.Errorf("pass 3, with nothing new, ingested %d store paths", got)
	}
	if got := len(r.keys(t, layout.NarInfo.Prefix())); got != total {
		t.Errorf("%d narinfos stored; want %d", got, total)
	}
	// The cursor is the only object under cursors/.
	if got := r.keys(t, layout.Cursor.Prefix()); len(got) != 1 {
		t.Errorf("cursors: %v", got)
	}
}

// countingServer serves the binary cache in dir over HTTP and counts the
// requests.
func countingServer(t *testing.T, dir string) (*url.URL, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	fs := http.FileServer(http.Dir(dir))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		fs.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	must(t, err)
	return u, &n
}

// storePaths returns the store path lines of the narinfos of hashes.
func storePaths(t *testing.T, hashes []string) string {
	t.Helper()
	all := narinfos(t, sampleBucket(t))
	var b strings.Builder
	for _, h := range hashes {
		b.WriteString(nixtest.Field(all[h], "StorePath") + "\n")
	}
	return b.String()
}

func appendFile(t *testing.T, name, text string) {
	t.Helper()
	f, err := os.OpenFile(name, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	must(t, err)
	_, err = f.WriteString(text)
	must(t, err)
	must(t, f.Close())
}

// An HTTP cache followed through a growing file of store paths: each pass
// reads only the lines added, a line still being written waits for its
// newline, and a pass with nothing new asks the cache nothing.
func TestFollowGrowingPaths(t *testing.T) {
	bucket := sampleBucket(t)
	hashes := slices.Sorted(maps.Keys(narinfos(t, bucket)))
	u, requests := countingServer(t, bucket)
	list := filepath.Join(t.TempDir(), "paths")
	lines := storePaths(t, hashes)
	half := strings.Index(lines[len(lines)/2:], "\n") + len(lines)/2 + 1
	cut := half + 20 // in the middle of the next line
	must(t, os.WriteFile(list, []byte(lines[:half]), 0o644))
	r := newRepo(t)
	var before int64
	passes := follow(t, source.NewHTTP(u, nil), r, ingest.FollowOptions{List: list},
		func(ingest.Pass) { appendFile(t, list, lines[half:cut]) },
		func(ingest.Pass) { appendFile(t, list, lines[cut:]) },
		func(ingest.Pass) { before = requests.Load() },
		func(ingest.Pass) {},
	)
	first := strings.Count(lines[:half], "\n")
	for i, want := range []int{first, 0, len(hashes) - first, 0} {
		if got := passes[i].New; got != want {
			t.Errorf("pass %d ingested %d store paths; want %d", i+1, got, want)
		}
	}
	if got := requests.Load() - before; got != 0 {
		t.Errorf("a pass with nothing new made %d requests to the cache", got)
	}
	if got := len(r.keys(t, layout.NarInfo.Prefix())); got != len(hashes) {
		t.Errorf("%d narinfos stored; want %d", got, len(hashes))
	}

	// A list rewritten with other content is read again from the start,
	// and what is stored is skipped.
	must(t, os.WriteFile(list, []byte("# rewritten\n"+lines), 0o644))
	passes = follow(t, source.NewHTTP(u, nil), r, ingest.FollowOptions{List: list}, func(ingest.Pass) {})
	if p := passes[0]; p.New != len(hashes) || p.Stats == nil || p.Stats.Skipped != len(hashes) {
		t.Errorf("rewritten list: pass %+v", p)
	}
}

// A follower started again resumes from its cursor: with nothing new it
// reads no narinfo, even as a shard, which must read each narinfo to learn
// its name. Each shard keeps its own cursor.
func TestFollowResumes(t *testing.T) {
	bucket := sampleBucket(t)
	u, requests := countingServer(t, bucket)
	list := filepath.Join(t.TempDir(), "paths")
	hashes := slices.Sorted(maps.Keys(narinfos(t, bucket)))
	must(t, os.WriteFile(list, []byte(storePaths(t, hashes)), 0o644))
	r := newRepo(t)
	for _, shard := range []ingest.Shard{{K: 0, N: 2}, {K: 1, N: 2}} {
		follow(t, source.NewHTTP(u, nil), r, ingest.FollowOptions{List: list, Options: ingest.Options{Shard: shard}}, func(ingest.Pass) {})
	}
	if got := len(r.keys(t, layout.NarInfo.Prefix())); got != len(hashes) {
		t.Errorf("%d narinfos stored by two shards; want %d", got, len(hashes))
	}
	if got := len(r.keys(t, layout.Cursor.Prefix())); got != 2 {
		t.Errorf("%d cursors for two shards", got)
	}
	before := requests.Load()
	passes := follow(t, source.NewHTTP(u, nil), r, ingest.FollowOptions{List: list, Options: ingest.Options{Shard: ingest.Shard{K: 0, N: 2}}},
		func(ingest.Pass) {})
	if got := requests.Load() - before; got != 0 || passes[0].New != 0 {
		t.Errorf("restarted follower: %d store paths new, %d requests to the cache; want none", passes[0].New, got)
	}
}

// A cursor that does not parse is started over with a warning, and
// rewritten.
func TestFollowBadCursor(t *testing.T) {
	bucket := sampleBucket(t)
	r := newRepo(t)
	src, err := source.Open(bucket)
	must(t, err)
	id := ingest.CursorID(src.String(), "", ingest.Shard{})
	key := layout.CursorOf(id).Key()
	must(t, r.be.Put(context.Background(), key, strings.NewReader("{garbage"), 8))
	passes := follow(t, src, r, ingest.FollowOptions{}, func(ingest.Pass) {})
	if n := len(narinfos(t, bucket)); passes[0].New != n {
		t.Errorf("with a corrupt cursor, pass 1 ingested %d store paths; want all %d", passes[0].New, n)
	}
	rc, err := r.be.Get(context.Background(), key, 0, -1)
	must(t, err)
	var b bytes.Buffer
	_, err = b.ReadFrom(rc)
	rc.Close()
	must(t, err)
	if !strings.Contains(b.String(), `"version":1`) {
		t.Errorf("cursor not rewritten: %s", b.String())
	}
}

// writeNarInfos writes a directory binary cache of n store paths, each a
// small uncompressed NAR of one file.
func writeNarInfos(t testing.TB, dir string, n int) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Join(dir, "nar"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "nix-cache-info"), []byte("StoreDir: /nix/store\n"), 0o644))
	for i := range n {
		var h [20]byte
		binary.BigEndian.PutUint64(h[:], uint64(i)+1)
		nar := testNAR(fmt.Appendf(nil, "content of path %d\n", i))
		sum := sha256.Sum256(nar)
		file := "nar/" + hex.EncodeToString(sum[:]) + ".nar"
		must(t, os.WriteFile(filepath.Join(dir, file), nar, 0o644))
		hash, sum32 := nixbase32.EncodeToString(h[:]), nixbase32.EncodeToString(sum[:])
		text := fmt.Sprintf("StorePath: /nix/store/%s-pkg%d-1.0\nURL: %s\nCompression: none\nFileHash: sha256:%s\nFileSize: %d\nNarHash: sha256:%s\nNarSize: %d\nReferences: \n",
			hash, i, file, sum32, len(nar), sum32, len(nar))
		must(t, os.WriteFile(filepath.Join(dir, hash+".narinfo"), []byte(text), 0o644))
	}
}

// testNAR returns the NAR of a regular file with the given contents.
func testNAR(contents []byte) []byte {
	var b []byte
	str := func(s []byte) {
		b = binary.LittleEndian.AppendUint64(b, uint64(len(s)))
		b = append(b, s...)
		b = append(b, make([]byte, (8-len(s)%8)%8)...)
	}
	for _, s := range []string{"nix-archive-1", "(", "type", "regular", "contents"} {
		str([]byte(s))
	}
	str(contents)
	str([]byte(")"))
	return b
}

// A pass over a directory with nothing new makes no request to the
// repository's backend, where a run without the cursor makes one a store
// path. With -v it prints what a pass costs either way (see README,
// "Following a source").
func TestFollowPassCost(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 200
	}
	dir := filepath.Join(t.TempDir(), "cache")
	writeNarInfos(t, dir, n)
	lb, err := local.Open(t.TempDir())
	must(t, err)
	reg := prometheus.NewRegistry()
	be, err := metered.New(lb, reg)
	must(t, err)
	r := newRepoOn(t, be, t.TempDir())
	requests := func() int {
		mfs, err := reg.Gather()
		must(t, err)
		total := 0.0
		for _, mf := range mfs {
			if mf.GetName() == "nardedup_backend_requests_total" {
				for _, m := range mf.Metric {
					total += m.GetCounter().GetValue()
				}
			}
		}
		return int(total)
	}
	src, err := source.Open(dir)
	must(t, err)
	if _, err := ingest.Run(context.Background(), src, r.rp, ingest.Options{}); err != nil {
		t.Fatal(err)
	}
	r0, start := requests(), time.Now()
	if _, err := ingest.Run(context.Background(), src, r.rp, ingest.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d narinfos, nothing new, without a cursor: %d backend requests, %v", n, requests()-r0, time.Since(start).Round(time.Millisecond))
	var got []int
	r0 = requests()
	passes := follow(t, src, r, ingest.FollowOptions{}, func(ingest.Pass) { r0 = requests() },
		func(p ingest.Pass) {
			got = append(got, requests()-r0)
			t.Logf("%d narinfos, nothing new, with the cursor: %d backend requests, %v", n, got[0], p.Elapsed.Round(time.Millisecond))
		})
	if passes[1].New != 0 || got[0] != 0 {
		t.Errorf("a pass with nothing new: %d store paths new, %d backend requests; want none", passes[1].New, got[0])
	}
}

// A store path that failed is tried again at the next pass, though it was
// written before the cursor's mark and outside its slack.
func TestFollowRetriesFailures(t *testing.T) {
	bucket := sampleBucket(t)
	infos := narinfos(t, bucket)
	h := slices.Sorted(maps.Keys(infos))[0]
	nar := filepath.Join(bucket, nixtest.Field(infos[h], "URL"))
	hidden := filepath.Join(t.TempDir(), "nar")
	must(t, os.Rename(nar, hidden))
	time.Sleep(10 * time.Millisecond)
	for other := range infos { // written after h's narinfo: the mark is theirs
		if other != h {
			must(t, os.WriteFile(filepath.Join(bucket, other+".narinfo"), infos[other], 0o644))
		}
	}
	r := newRepo(t)
	src, err := source.Open(bucket)
	must(t, err)
	drain := make(chan struct{})
	var passes []ingest.Pass
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = ingest.Follow(ctx, src, r.rp, ingest.FollowOptions{
		Options: ingest.Options{Drain: drain, MaxConsecutiveFailures: -1}, Every: time.Millisecond, Slack: time.Nanosecond,
		Cursor: "retry", Logf: t.Logf,
		Pass: func(p ingest.Pass) {
			passes = append(passes, p)
			switch p.N {
			case 1:
				must(t, os.Rename(hidden, nar))
			case 2:
				close(drain)
			}
		},
	})
	must(t, err)
	if p := passes[0]; p.Stats == nil || p.Stats.Failed == 0 {
		t.Fatalf("pass 1 did not fail without the NAR: %+v", p)
	}
	if p := passes[1]; p.New == 0 || p.Stats == nil || p.Stats.Failed != 0 {
		t.Errorf("pass 2, with the NAR back: %d new, stats %+v", p.New, p.Stats)
	}
	if ok, err := r.st.HasNarInfo(context.Background(), h); err != nil || !ok {
		t.Errorf("store path %s not stored after its NAR came back: %v", h, err)
	}
}
