package scaletest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/s3"
	"github.com/nardedup/nardedup/internal/nixtest"
	"github.com/nardedup/nardedup/internal/s3test"
)

// TestShardedIngest runs four ingest processes at once, one shard each,
// into one S3 repository created beforehand, each with its own index cache
// as on its own machine; then has real Nix copy every store path from a
// server on it, verifies it, and compares its size with that of one
// process ingesting the same corpus into another repository.
func TestShardedIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs several processes")
	}
	const shards = 4
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	sharded, single := srv.URL(bucket, "sharded"), srv.URL(bucket, "single")
	c := smallCorpus(t)
	paths := c.all()
	bin := nixtest.Nardedup(t)
	env := append(os.Environ(), srv.Env()...)
	shardedEnv := append(env[:len(env):len(env)], "NARDEDUP_REPO="+sharded)
	initRepo(t, srv, sharded)

	start := time.Now()
	waits := make([]func() (string, error), shards)
	for k := range shards {
		waits[k] = startIngest(t, bin, shardedEnv, c.bucket, paths, "--shard", fmt.Sprintf("%d/%d", k, shards))
	}
	for k, wait := range waits {
		out, err := wait()
		if err != nil {
			t.Fatalf("ingest --shard %d/%d: %v\n%s", k, shards, err, out)
		}
		t.Logf("ingest --shard %d/%d:\n%s", k, shards, out)
	}
	shardedTime := time.Since(start)

	start = time.Now()
	out, err := startIngest(t, bin, append(env[:len(env):len(env)], "NARDEDUP_REPO="+single), c.bucket, paths)()
	if err != nil {
		t.Fatalf("ingest: %v\n%s", err, out)
	}
	singleTime := time.Since(start)

	shardedBytes, singleBytes := repoBytes(t, srv, sharded), repoBytes(t, srv, single)
	diff := float64(shardedBytes-singleBytes) / float64(singleBytes)
	t.Logf("%d store paths: %d shards stored %d bytes in %v, one process %d bytes in %v (%+.2f%%)",
		len(paths), shards, shardedBytes, shardedTime.Round(time.Millisecond),
		singleBytes, singleTime.Round(time.Millisecond), 100*diff)
	if diff > 0.02 || diff < -0.02 {
		t.Errorf("the sharded repository has %d bytes, one process's %d: more than 2%% apart", shardedBytes, singleBytes)
	}

	url := startServe(t, bin, shardedEnv)
	t.Logf("served every NAR in %v", fetchEventually(t, url, paths))
	nixtest.Require(t, "nix")
	nixtest.Copy(t, url, c.key, paths)
	cmd := exec.Command(bin, "verify")
	cmd.Env = withIndex(t, shardedEnv)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nardedup verify: %v\n%s", err, out)
	}
}

// repoBytes returns the total size of the objects of the repository at
// url.
func repoBytes(t *testing.T, srv *s3test.Server, url string) int64 {
	t.Helper()
	be, err := s3.Open(context.Background(), url, srv.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	var n int64
	err = be.List(context.Background(), "", func(fi backend.Info) error {
		n += fi.Size
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
