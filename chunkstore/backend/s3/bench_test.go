package s3_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/local"
	"github.com/nardedup/nardedup/internal/backendtest"
	"github.com/nardedup/nardedup/internal/s3test"
	"github.com/nardedup/nardedup/internal/sample"
)

// BenchmarkBackend runs the backend benchmarks on versitygw over loopback.
func BenchmarkBackend(b *testing.B) {
	srv := s3test.Start(b)
	backendtest.Bench(b, func(b *testing.B) backend.Backend {
		return open(b, srv, srv.NewBucket(b), "bench")
	})
}

// benchCache is the binary cache the repository benchmarks use:
// $NARDEDUP_S3_BENCH_CACHE (e.g. a make-bucket corpus's bucket directory)
// or the embedded sample.
func benchCache(b *testing.B) string {
	if dir := os.Getenv("NARDEDUP_S3_BENCH_CACHE"); dir != "" {
		return dir
	}
	dir, err := sample.WriteBucket(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	return dir
}

// BenchmarkRepo ingests a binary cache into a repository on the local
// backend and on S3, then serves every NAR from a freshly opened store,
// reporting NAR MB/s for both and S3 requests per NAR served.
func BenchmarkRepo(b *testing.B) {
	dir := benchCache(b)
	hashes := narinfoHashes(b, dir)
	srv := s3test.Start(b)
	for _, kind := range []string{"local", "s3"} {
		b.Run(kind, func(b *testing.B) {
			for b.Loop() {
				benchRepoOnce(b, srv, kind, dir, hashes)
			}
		})
	}
}

func benchRepoOnce(b *testing.B, srv *s3test.Server, kind, dir string, hashes []string) {
	var ingestCnt, serveCnt counter
	openBE := func(cnt *counter) backend.Backend {
		be, err := local.Open(filepath.Join(b.TempDir(), "repo"))
		if err != nil {
			b.Fatal(err)
		}
		return be
	}
	if kind == "s3" {
		bucket := srv.NewBucket(b)
		openBE = func(cnt *counter) backend.Backend { return open(b, srv, bucket, "repo", countingOpt(cnt)) }
	}
	be := openBE(&ingestCnt)
	b.Cleanup(func() { be.Close() })
	start := time.Now()
	stats := ingestDir(b, openStore(b, be, true), dir)
	ingestSecs := time.Since(start).Seconds()

	if kind == "local" { // the same directory
		openBE = func(*counter) backend.Backend { return be }
	}
	st := openStore(b, openBE(&serveCnt), false).NARs()
	url := serveStore(b, st, "none")
	var served int64
	start = time.Now()
	reqs := serveCnt.delta(func() { served = fetchAll(b, url, hashes) })
	serveSecs := time.Since(start).Seconds()
	b.ReportMetric(float64(stats.NarBytes)/1e6/ingestSecs, "ingest-MB/s")
	b.ReportMetric(float64(served)/1e6/serveSecs, "serve-MB/s")
	if kind == "s3" {
		b.ReportMetric(float64(ingestCnt.n.Load())/float64(stats.NARs), "ingest-req/NAR")
		b.ReportMetric(float64(reqs)/float64(len(hashes)), "serve-req/NAR")
	}
}
