package retention_test

import (
	"context"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/local"
	"github.com/nardedup/nardedup/internal/sample"
	"github.com/nardedup/nardedup/internal/testrepo"
	"github.com/nardedup/nardedup/narfmt/nixhash"
	"github.com/nardedup/nardedup/narstore"
	nrepo "github.com/nardedup/nardedup/repo"
	"github.com/nardedup/nardedup/repo/layout"
	"github.com/nardedup/nardedup/retention"
)

// The sample's store paths by what they are (see internal/sample). Each
// acl references its own generation's attr.
const (
	acl1   = "/nix/store/gcqgfxlb5qs7vgsasa4sg7f40hyf1ana-acl-2.3.1" // references attr1
	attr1  = "/nix/store/bcmi86m724clxx5vmrw80y1wq6cmpdb3-attr-2.5.1"
	zlib1  = "/nix/store/d9h89hc7n3ky7m219c8qg7scg0dbp32a-zlib-1.2.13.dfsg"
	bzip21 = "/nix/store/3df4rkhn2mcp950qg1yz0ygw2y0rhxpc-bzip2-1.0.8"
	acl3   = "/nix/store/16w49fbl51m3453x0yafg698kc03grk2-acl-2.3.1" // references attr3
	attr3  = "/nix/store/dnrh6vs4qwcf86rscbwch7q5a86lhay8-attr-2.5.1"
	zlib3  = "/nix/store/gp4miyfr3gm2p8b19c1mhc7azb7a7mbs-zlib-1.2.13.dfsg"
	// absent is a well-formed store path the sample does not have.
	absent = "/nix/store/00000000000000000000000000000000-absent-1.0"
)

// repo is a repository on a local backend holding the ingested sample.
type repo struct {
	be     *local.Backend
	rp     *nrepo.Repo
	st     *narstore.Store
	bucket string
}

func newRepo(t testing.TB) *repo {
	t.Helper()
	be, rp, bucket := testrepo.Sample(t)
	return &repo{be: be, rp: rp, st: rp.NARs(), bucket: bucket}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// allPaths returns every store path of the sample.
func allPaths() []string {
	var all []string
	for g := 1; g <= 3; g++ {
		all = append(all, sample.Paths(g)...)
	}
	slices.Sort(all)
	return all
}

// hashOf returns the hash part of a store path.
func hashOf(p string) string {
	return strings.TrimPrefix(p, "/nix/store/")[:32]
}

// except returns every store path of the sample but those given.
func except(paths ...string) []string {
	return slices.DeleteFunc(allPaths(), func(p string) bool { return slices.Contains(paths, p) })
}

// age sets the modification time of the narinfos of paths to d ago.
func (r *repo) age(t testing.TB, d time.Duration, paths ...string) {
	t.Helper()
	when := time.Now().Add(-d)
	for _, p := range paths {
		f := filepath.Join(r.be.Dir(), filepath.FromSlash(layout.NarInfoOf(hashOf(p)).Key()))
		must(t, os.Chtimes(f, when, when))
	}
}

// objects returns every object of the repository with its size and time.
func (r *repo) objects(t testing.TB) map[string]backend.Info {
	t.Helper()
	objs := make(map[string]backend.Info)
	must(t, r.be.List(context.Background(), "", func(fi backend.Info) error {
		objs[fi.Key] = fi
		return nil
	}))
	return objs
}

// narInfoPaths returns the store paths that have a narinfo, sorted.
func (r *repo) narInfoPaths(t testing.TB) []string {
	t.Helper()
	byHash := make(map[string]string)
	for _, p := range allPaths() {
		byHash[hashOf(p)] = p
	}
	var paths []string
	must(t, r.st.ListNarInfos(context.Background(), func(h string) error {
		p, ok := byHash[h]
		if !ok {
			t.Errorf("narinfo %s is not of the sample", h)
		}
		paths = append(paths, p)
		return nil
	}))
	slices.Sort(paths)
	return paths
}

// storePaths returns the store paths of a report's paths, sorted.
func storePaths(ps []retention.Path) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.StorePath)
	}
	slices.Sort(out)
	return out
}

// upstream returns the sample's narinfo text of a store path.
func (r *repo) upstream(t testing.TB, p string) []byte {
	t.Helper()
	text, err := os.ReadFile(filepath.Join(r.bucket, hashOf(p)+".narinfo"))
	must(t, err)
	return text
}

// narSizes sums the upstream NarSize of store paths.
func (r *repo) narSizes(t testing.TB, paths []string) int64 {
	t.Helper()
	var n int64
	for _, p := range paths {
		for line := range strings.SplitSeq(string(r.upstream(t, p)), "\n") {
			if v, ok := strings.CutPrefix(line, "NarSize: "); ok {
				size, err := strconv.ParseInt(v, 10, 64)
				must(t, err)
				n += size
			}
		}
	}
	return n
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// narHash returns the SHA-256 of the NAR of store path p.
func (r *repo) narHash(t testing.TB, p string) [32]byte {
	t.Helper()
	var sum [32]byte
	for line := range strings.SplitSeq(string(r.upstream(t, p)), "\n") {
		if v, ok := strings.CutPrefix(line, "NarHash: "); ok {
			h, err := nixhash.Parse(v)
			must(t, err)
			copy(sum[:], h.Digest)
			return sum
		}
	}
	t.Fatalf("narinfo of %s has no NarHash", p)
	return sum
}

// sameObjects reports whether two listings hold the same objects, with the
// same sizes and times.
func sameObjects(a, b map[string]backend.Info) bool {
	return maps.EqualFunc(a, b, func(x, y backend.Info) bool {
		return x.Size == y.Size && x.ModTime.Equal(y.ModTime)
	})
}

// status GETs url and returns the status code.
func status(t testing.TB, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	must(t, err)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
