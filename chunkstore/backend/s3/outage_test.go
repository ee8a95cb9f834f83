package s3_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nardedup/nardedup/internal/nixtest"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/s3"
	"github.com/nardedup/nardedup/internal/s3test"
	"github.com/nardedup/nardedup/internal/sample"
	"github.com/nardedup/nardedup/narfmt/nixhash"
)

// outageURL is the repository URL the binary gets: short timeout, few
// retries, so that an outage ends a command quickly.
func outageURL(srv *s3test.Server, bucket string) string {
	return srv.URL(bucket, "") + "&timeout=2s&retries=2"
}

// run runs the binary to the end and returns its output and exit code.
func run(t *testing.T, bin string, env []string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	out, _ := cmd.CombinedOutput()
	return string(out), cmd.ProcessState.ExitCode()
}

// countObjects counts the objects in bucket (-1 on error).
func countObjects(srv *s3test.Server, bucket string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	b, err := s3.Open(ctx, srv.URL(bucket, ""), srv.Options(s3.WithRetries(0))...)
	if err != nil {
		return -1
	}
	defer b.Close()
	n := 0
	if err := b.List(ctx, "", func(backend.Info) error { n++; return nil }); err != nil {
		return -1
	}
	return n
}

// killMidIngest starts an ingest of dir and kills the S3 server once the
// ingest has written objects but not finished. It returns false if the
// ingest finished first; otherwise it checks that the ingest fails soon,
// with an error about S3.
func killMidIngest(t *testing.T, srv *s3test.Server, bin string, env []string, bucket, dir string) bool {
	var out bytes.Buffer
	cmd := exec.Command(bin, "ingest", "--repo", outageURL(srv, bucket), "--flush-interval", "50ms",
		"--jobs", "1", "--index-cache", t.TempDir(), dir)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	objects := 0
	for objects < 3 {
		select {
		case err := <-done:
			t.Logf("ingest ended (%v) before the kill, with %d objects:\n%s", err, objects, out.String())
			return false
		case <-time.After(10 * time.Millisecond):
		}
		objects = countObjects(srv, bucket)
	}
	srv.Stop()
	killed := time.Now()
	select {
	case err := <-done:
		code, took := cmd.ProcessState.ExitCode(), time.Since(killed)
		t.Logf("S3 killed with %d objects stored; ingest exit %d (%v) after %v:\n%s", objects, code, err, took, out.String())
		if code == 0 {
			t.Errorf("ingest exited 0 although the S3 server was killed mid-run")
		}
		if !strings.Contains(strings.ToLower(out.String()), "s3") {
			t.Errorf("ingest's error does not name S3:\n%s", out.String())
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Errorf("ingest still running 30s after the S3 server was killed:\n%s", out.String())
	}
	return true
}

// TestIngestOutage kills the S3 server in the middle of an ingest by the
// real binary: the ingest fails; after a restart it completes and the
// repository verifies with every store path.
func TestIngestOutage(t *testing.T) {
	bin := nixtest.Nardedup(t)
	srv := s3test.Start(t)
	dir, err := sample.WriteBucket(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), srv.Env()...)
	var bucket string
	for try := 1; ; try++ {
		bucket = srv.NewBucket(t)
		if killMidIngest(t, srv, bin, env, bucket, dir) {
			break
		}
		if try == 3 {
			t.Fatal("the ingest finished before the S3 server could be killed, 3 times")
		}
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	repo, cache := outageURL(srv, bucket), t.TempDir()
	for _, args := range [][]string{
		{"ingest", "--repo", repo, "--index-cache", cache, dir},
		{"verify", "--repo", repo, "--index-cache", cache},
		{"stats", "--repo", repo, "--index-cache", cache},
	} {
		out, code := run(t, bin, env, args...)
		t.Logf("nardedup %s: exit %d\n%s", args[0], code, out)
		if code != 0 {
			t.Fatalf("nardedup %s after the restart: exit %d", args[0], code)
		}
		if args[0] == "stats" && !strings.Contains(out, "store paths: 18,") {
			t.Errorf("stats does not report 18 store paths:\n%s", out)
		}
	}
}

// narinfo fetches the narinfo of hash and returns its NAR's URL, NarSize
// and NarHash digest.
func narinfo(t *testing.T, base, hash string) (string, int64, []byte) {
	t.Helper()
	fields := map[string]string{}
	for line := range strings.SplitSeq(string(nixtest.Get(t, base+"/"+hash+".narinfo")), "\n") {
		if k, v, ok := strings.Cut(line, ": "); ok {
			fields[k] = v
		}
	}
	size, err := strconv.ParseInt(fields["NarSize"], 10, 64)
	h, herr := nixhash.Parse(fields["NarHash"])
	if err != nil || herr != nil || fields["URL"] == "" {
		t.Fatalf("%s.narinfo: %v", hash, fields)
	}
	return fields["URL"], size, h.Digest
}

// largestNAR returns the hash of the sample path with the largest NAR and
// its NAR's URL, size and digest.
func largestNAR(t *testing.T, base string, hashes []string) (string, string, int64, []byte) {
	var best string
	var bestURL string
	var bestSize int64 = -1
	var bestSum []byte
	for _, h := range hashes {
		u, size, sum := narinfo(t, base, h)
		if size > bestSize {
			best, bestURL, bestSize, bestSum = h, u, size, sum
		}
	}
	return best, bestURL, bestSize, bestSum
}

// TestServeOutage kills the S3 server under "nardedup serve": a NAR
// requested meanwhile is not delivered as a complete wrong NAR, and once
// the server is back the same request delivers the right one.
func TestServeOutage(t *testing.T) {
	bin := nixtest.Nardedup(t)
	srv := s3test.Start(t)
	dir, err := sample.WriteBucket(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	repo := outageURL(srv, srv.NewBucket(t))
	env := append(os.Environ(), srv.Env()...)
	env = append(env, "NARDEDUP_REPO="+repo, "NARDEDUP_INDEX_CACHE="+t.TempDir())
	if out, code := run(t, bin, env, "ingest", dir); code != 0 {
		t.Fatalf("ingest: exit %d\n%s", code, out)
	}
	base := nixtest.Serve(t, bin, env, "--compression", "none")
	hash, narURL, size, sum := largestNAR(t, base, narinfoHashes(t, dir))
	srv.Stop()
	start := time.Now()
	status, n, got, rerr := fetchNAR(base + "/" + narURL)
	t.Logf("NAR %s (%d bytes) with S3 down: %s, %d bytes, read error %v, after %v", narURL, size, status, n, rerr, time.Since(start))
	if strings.HasPrefix(status, "200") && n == size && bytes.Equal(got, sum) && rerr == nil {
		t.Logf("the NAR was served whole and right without S3 (from a cache)")
	} else if strings.HasPrefix(status, "200") && n == size && rerr == nil {
		t.Errorf("with S3 down, the server sent a complete NAR of %d bytes that fails its NarHash", n)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	fetchAll(t, base, []string{hash})
}

// fetchNAR GETs url and returns the status, the body's length and sha256,
// and the error that ended the body, if any.
func fetchNAR(url string) (string, int64, []byte, error) {
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "no response", 0, nil, err
	}
	defer resp.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	return resp.Status, n, h.Sum(nil), err
}
