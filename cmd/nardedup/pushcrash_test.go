package main_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nardedup/nardedup/internal/nargen"
	"github.com/nardedup/nardedup/internal/nixtest"
	"github.com/nardedup/nardedup/narfmt"
	"github.com/nardedup/nardedup/narfmt/storepath"
)

// pushed is a NAR to push by hand, as nix copy --to would, uncompressed.
type pushed struct {
	hash    string // store path hash: the narinfo's key
	nar     []byte
	narinfo string
}

func newPushed(t *testing.T, seed uint64, size int64) pushed {
	t.Helper()
	var buf bytes.Buffer
	must(t, nargen.Write(&buf, size, seed, storepath.DefaultStoreDir))
	nar := buf.Bytes()
	sum := narfmt.Hash(sha256.Sum256(nar))
	hash := fmt.Sprintf("%032d", seed) // digits are nix base-32 characters
	info := fmt.Sprintf("StorePath: %s/%s-pushed-%d\nURL: nar/%s.nar\nCompression: none\nFileHash: sha256:%s\nFileSize: %d\nNarHash: sha256:%s\nNarSize: %d\nReferences: \n",
		storepath.DefaultStoreDir, hash, seed, sum.String(), sum.String(), len(nar), sum.String(), len(nar))
	return pushed{hash: hash, nar: nar, narinfo: info}
}

func (p pushed) fileURL(base string) string {
	return base + "/nar/" + narfmt.Hash(sha256.Sum256(p.nar)).String() + ".nar"
}

// put sends body to url with the upload token and returns the status.
func put(url, token string, body io.Reader) (int, error) {
	req, err := http.NewRequest(http.MethodPut, url, body)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

func status(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	must(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// TestPushKilledAndDuringGC kills the server (SIGKILL) halfway through a
// pushed NAR's body: after a restart nothing of it is visible, its narinfo
// is refused, and verify passes. Then NARs are pushed while collections
// with no grace period run beside the server, over and over: every pushed
// path is served byte for byte afterwards, and verify passes.
func TestPushKilledAndDuringGC(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the nardedup binary")
	}
	bin := nixtest.Nardedup(t)
	work := t.TempDir()
	common := []string{"--repo", filepath.Join(work, "repo"), "--index-cache", filepath.Join(work, "cache")}
	mustRun(t, bin, append([]string{"ingest"}, append(common, filepath.Join(nixtest.RepoRoot(t), "testdata", "sample", "bucket"))...)...)
	token := "push-crash-token"
	tokens := filepath.Join(work, "tokens")
	writeFile(t, tokens, token+"\n")
	args := append([]string{"--upload-token", tokens}, common...)

	// Killed halfway through the body.
	srv, base := startServe(t, bin, args...)
	cut := newPushed(t, 1, 8<<20)
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := put(cut.fileURL(base), token, pr)
		done <- err
	}()
	_, err := pw.Write(cut.nar[:len(cut.nar)/2])
	must(t, err)
	time.Sleep(200 * time.Millisecond) // let the server store what it got
	must(t, srv.Process.Signal(syscall.SIGKILL))
	srv.Wait()
	pw.CloseWithError(io.ErrUnexpectedEOF)
	if err := <-done; err == nil {
		t.Log("the cut upload got an answer before the kill")
	}
	_, base = startServe(t, bin, args...)
	if code, err := put(base+"/"+cut.hash+".narinfo", token, strings.NewReader(cut.narinfo)); err != nil || code < 400 || code >= 500 {
		t.Fatalf("narinfo of a NAR cut by a kill: %d, %v; want a 4xx", code, err)
	}
	if code := status(t, base+"/"+cut.hash+".narinfo"); code != http.StatusNotFound {
		t.Fatalf("narinfo of a NAR cut by a kill: GET %d; want 404", code)
	}
	t.Log(mustRun(t, bin, append([]string{"verify"}, common...)...))

	// Pushes while collections run.
	stop := make(chan struct{})
	gcDone := make(chan string, 1)
	go func() {
		var out strings.Builder
		for runs := 0; ; runs++ {
			select {
			case <-stop:
				fmt.Fprintf(&out, "%d collections", runs)
				gcDone <- out.String()
				return
			default:
			}
			cmd := exec.Command(bin, append([]string{"gc", "--grace", "0", "--wait", "100ms", "--quiet"}, common...)...)
			if b, err := cmd.CombinedOutput(); err != nil {
				fmt.Fprintf(&out, "gc: %v\n%s\n", err, b)
			}
		}
	}()
	var all []pushed
	for seed := uint64(2); seed < 8; seed++ {
		p := newPushed(t, seed, 2<<20)
		if code, err := put(p.fileURL(base), token, bytes.NewReader(p.nar)); err != nil || code >= 300 {
			t.Fatalf("push of NAR %d: %d, %v", seed, code, err)
		}
		if code, err := put(base+"/"+p.hash+".narinfo", token, strings.NewReader(p.narinfo)); err != nil || code >= 300 {
			t.Fatalf("push of narinfo %d: %d, %v", seed, code, err)
		}
		all = append(all, p)
	}
	close(stop)
	t.Log(<-gcDone)
	mustRun(t, bin, append([]string{"gc", "--grace", "0", "--quiet"}, common...)...)
	for _, p := range all {
		if code := status(t, base+"/"+p.hash+".narinfo"); code != http.StatusOK {
			t.Fatalf("pushed %s: narinfo GET %d", p.hash, code)
		}
		resp, err := http.Get(base + "/nar/" + narfmt.Hash(sha256.Sum256(p.nar)).String() + ".nar")
		must(t, err)
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !bytes.Equal(got, p.nar) {
			t.Fatalf("pushed %s: NAR %d bytes, %v; want the %d pushed", p.hash, len(got), err, len(p.nar))
		}
	}
	t.Log(mustRun(t, bin, append([]string{"verify"}, common...)...))
}
