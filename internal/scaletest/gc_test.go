package scaletest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/internal/nixtest"
	"github.com/nardedup/nardedup/internal/s3test"
)

// TestGCOnS3BesideIngestAndServe forgets part of an S3 repository, then runs
// a garbage collection (with repacking) while another process ingests the
// next generation and a server that has served everything keeps serving;
// real Nix then copies every path that should be there from that server
// and from a new one, and the repository verifies.
func TestGCOnS3BesideIngestAndServe(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs several processes")
	}
	srv := s3test.Start(t)
	url := srv.URL(srv.NewBucket(t), "repo")
	c := smallCorpus(t)
	bin := nixtest.Nardedup(t)
	env := append(append(os.Environ(), srv.Env()...), "NARDEDUP_REPO="+url)
	initRepo(t, srv, url)

	g1, g2, g3 := c.gens[0], c.gens[1], c.gens[2]
	if out, err := startIngest(t, bin, env, c.bucket, append(append([]string(nil), g1...), g2...))(); err != nil {
		t.Fatalf("ingest: %v\n%s", err, out)
	}
	early := startServe(t, bin, env)
	nixtest.Require(t, "nix")
	nixtest.Copy(t, early, c.key, append(append([]string(nil), g1...), g2...))

	// Keep the closures of every other path of generation 2.
	var roots []string
	for i, p := range g2 {
		if i%2 == 0 {
			roots = append(roots, p)
		}
	}
	rootsFile := filepath.Join(t.TempDir(), "roots")
	if err := os.WriteFile(rootsFile, []byte(strings.Join(roots, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		cmd := exec.Command(bin, args...)
		var out bytes.Buffer
		cmd.Env, cmd.Stdout, cmd.Stderr = withIndex(t, env), &out, &out
		err := cmd.Run()
		return out.String(), err
	}
	out, err := run("forget", "--keep-roots", rootsFile, "--verbose")
	if err != nil {
		t.Fatalf("forget: %v\n%s", err, out)
	}
	var kept []string
	for _, p := range append(append([]string(nil), g1...), g2...) {
		if !strings.Contains(out, p) {
			kept = append(kept, p)
		}
	}
	if len(kept) < len(roots) {
		t.Fatalf("kept %d paths for %d roots:\n%s", len(kept), len(roots), out)
	}

	// The collection and the next generation's ingest at once.
	waitIngest := startIngest(t, bin, env, c.bucket, g3)
	gcOut, gcErr := run("gc", "--grace", "0", "--repack-below", "0.9", "--wait", "2m")
	ingOut, ingErr := waitIngest()
	t.Logf("gc:\n%s\ningest:\n%s", gcOut, ingOut)
	if gcErr != nil || ingErr != nil {
		t.Fatalf("gc: %v; ingest: %v", gcErr, ingErr)
	}
	if strings.Contains(gcOut, "left for the next run") || !strings.Contains(gcOut, "deleted: ") {
		t.Fatalf("gc did not finish its sweep")
	}

	want := append(append([]string(nil), kept...), g3...)
	late := startServe(t, bin, env)
	for _, u := range []string{early, late} {
		nixtest.Copy(t, u, c.key, want)
	}
	if out, err := run("verify", "--trusted-public-keys", c.key); err != nil {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	// What the ingest made live again while the collection ran (a pack it
	// had repacked is kept) the next collection reclaims; then nothing is
	// left to condemn.
	out, err = run("gc", "--grace", "0", "--repack-below", "0.9")
	t.Logf("second gc:\n%s", out)
	if err != nil {
		t.Fatalf("second gc: %v", err)
	}
	if out, err := run("gc", "--grace", "0", "--repack-below", "0.9", "--dry-run"); err != nil || !strings.Contains(out, "would condemn: 0 packs") {
		t.Errorf("a third collection would still condemn packs (%v):\n%s", err, out)
	}
	nixtest.Copy(t, early, c.key, want)
	if out, err := run("verify", "--trusted-public-keys", c.key); err != nil {
		t.Fatalf("verify: %v\n%s", err, out)
	}
}
