package server_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nardedup/nardedup/chunkstore/backend/local"
	"github.com/nardedup/nardedup/internal/nixtest"
	"github.com/nardedup/nardedup/internal/sample"
	"github.com/nardedup/nardedup/internal/testrepo"
	"github.com/nardedup/nardedup/narfmt/narinfo"
	"github.com/nardedup/nardedup/narfmt/nixbase32"
	"github.com/nardedup/nardedup/narfmt/signature"
	nrepo "github.com/nardedup/nardedup/repo"
	"github.com/nardedup/nardedup/server"
)

const (
	uploadToken = "push-secret"
	readToken   = "read-secret"
)

// pushTarget is an empty repository served with uploads on.
type pushTarget struct {
	ts     *httptest.Server
	dir    string
	be     *local.Backend
	bucket string // the sample binary cache, to push from
	log    fmt.Stringer
}

// newPushTarget serves an empty repository that takes uploads from
// uploadToken; with readAuth, reads need readToken (or uploadToken).
func newPushTarget(t *testing.T, readAuth bool, maxUpload int64, more ...func(*server.Options)) *pushTarget {
	t.Helper()
	dir := t.TempDir()
	bucket, err := sample.WriteBucket(filepath.Join(dir, "bucket"))
	check(t, err)
	be, err := local.Open(filepath.Join(dir, "repo"))
	check(t, err)
	t.Cleanup(func() { be.Close() })
	rp := testrepo.Open(t, be, nrepo.DefaultConfig(), filepath.Join(dir, "index.db"))
	opts, log := loggingOptions()
	opts.Uploads = rp.NARs()
	opts.UploadAuth = &server.Auth{}
	opts.UploadAuth.AddToken(uploadToken)
	opts.MaxUploadSize = maxUpload
	if readAuth {
		opts.Auth = &server.Auth{}
		opts.Auth.AddToken(readToken)
	}
	for _, f := range more {
		f(&opts)
	}
	ts := httptest.NewServer(server.New(rp.NARs(), opts))
	t.Cleanup(ts.Close)
	return &pushTarget{ts: ts, dir: dir, be: be, bucket: bucket, log: log}
}

// sampleNarInfo returns the text and parsed form of a sample narinfo.
func (p *pushTarget) sampleNarInfo(t *testing.T, hash string) ([]byte, *narinfo.NarInfo) {
	t.Helper()
	text, err := os.ReadFile(filepath.Join(p.bucket, hash+".narinfo"))
	check(t, err)
	ni, err := narinfo.Parse(bytes.NewReader(text))
	check(t, err)
	return text, ni
}

// sampleHashes returns the store path hashes of the sample's narinfos.
func (p *pushTarget) sampleHashes(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(p.bucket, "*.narinfo"))
	check(t, err)
	var hashes []string
	for _, f := range files {
		hashes = append(hashes, strings.TrimSuffix(filepath.Base(f), ".narinfo"))
	}
	return hashes
}

// put PUTs body at path with the bearer token (none if empty) and returns
// the status and response body.
func (p *pushTarget) put(t *testing.T, path string, body []byte, token string) (int, string) {
	t.Helper()
	code, msg, err := p.request(path, body, token)
	check(t, err)
	return code, msg
}

// request is put for goroutines other than the test's.
func (p *pushTarget) request(path string, body []byte, token string) (int, string, error) {
	req, err := http.NewRequest(http.MethodPut, p.ts.URL+path, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	msg, err := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(msg)), err
}

// push uploads the sample NAR file and narinfo of hash, and fails the test
// unless both are taken.
func (p *pushTarget) push(t *testing.T, hash string) {
	t.Helper()
	text, ni := p.sampleNarInfo(t, hash)
	file, err := os.ReadFile(filepath.Join(p.bucket, ni.URL))
	check(t, err)
	if code, msg := p.put(t, "/"+ni.URL, file, uploadToken); code != http.StatusOK {
		t.Fatalf("PUT %s: %d %s\n%s", ni.URL, code, msg, p.log)
	}
	if code, msg := p.put(t, "/"+hash+".narinfo", text, uploadToken); code != http.StatusOK {
		t.Fatalf("PUT %s.narinfo: %d %s\n%s", hash, code, msg, p.log)
	}
}

func (p *pushTarget) status(t *testing.T, path string) int {
	t.Helper()
	resp, _, err := fetch(t, http.MethodGet, p.ts.URL+path)
	check(t, err)
	return resp.StatusCode
}

func TestPush(t *testing.T) {
	p := newPushTarget(t, false, 0)
	hashes := p.sampleHashes(t)
	for _, hash := range hashes {
		_, ni := p.sampleNarInfo(t, hash)
		file, err := os.ReadFile(filepath.Join(p.bucket, ni.URL))
		check(t, err)
		if code, msg := p.put(t, "/"+ni.URL, file, uploadToken); code != http.StatusOK {
			t.Fatalf("PUT %s: %d %s\n%s", ni.URL, code, msg, p.log)
		}
		// The NAR alone makes nothing visible.
		if code := p.status(t, "/"+hash+".narinfo"); code != http.StatusNotFound {
			t.Fatalf("narinfo %s after its NAR only: status %d; want 404", hash, code)
		}
		p.push(t, hash)
		text := nixtest.Get(t, p.ts.URL+"/"+hash+".narinfo")
		served, err := narinfo.Parse(bytes.NewReader(text))
		check(t, err)
		if served.NarHash != ni.NarHash || len(served.Sigs) == 0 || served.Sigs[0] != ni.Sigs[0] {
			t.Fatalf("served narinfo of %s:\n%s\nwant NarHash %s and the pushed Sig", hash, text, ni.NarHash)
		}
		nar := nixtest.Get(t, p.ts.URL+"/nar/"+narName(t, ni)+".nar")
		if sum := sha256.Sum256(nar); "sha256:"+nixbase32.EncodeToString(sum[:]) != ni.NarHash {
			t.Fatalf("NAR of %s served back differs from the one pushed", hash)
		}
	}
}

func TestPushRefusals(t *testing.T) {
	p := newPushTarget(t, true, 0)
	hashes := p.sampleHashes(t)
	hash := hashes[0]
	text, ni := p.sampleNarInfo(t, hash)
	file, err := os.ReadFile(filepath.Join(p.bucket, ni.URL))
	check(t, err)
	_, other := p.sampleNarInfo(t, hashes[1])
	otherFile, err := os.ReadFile(filepath.Join(p.bucket, other.URL))
	check(t, err)

	refuse := func(name, path string, body []byte, token string, want int, wantMsg string) {
		t.Helper()
		code, msg := p.put(t, path, body, token)
		if code != want || !strings.Contains(msg, wantMsg) {
			t.Errorf("%s: PUT %s: %d %q; want %d with %q", name, path, code, msg, want, wantMsg)
		}
	}
	refuse("no credentials", "/"+ni.URL, file, "", http.StatusUnauthorized, "unauthorized")
	refuse("read token", "/"+ni.URL, file, readToken, http.StatusForbidden, "may read, not upload")
	refuse("wrong token", "/"+ni.URL, file, "guess", http.StatusUnauthorized, "unauthorized")
	refuse("file under another's name", "/"+ni.URL, otherFile, uploadToken, http.StatusBadRequest, "not the sha256:")
	refuse("not xz", "/"+strings.TrimSuffix(ni.URL, ".xz")+".zst", file, uploadToken, http.StatusBadRequest, "")
	refuse("narinfo before its NAR", "/"+hash+".narinfo", text, uploadToken, http.StatusConflict, "was never pushed")
	refuse("path traversal", "/nar/..%2f..%2fconfig", file, uploadToken, http.StatusNotFound, "")
	refuse("other path", "/debuginfo/"+hash, file, uploadToken, http.StatusNotFound, "uploads go to")
	refuse("not a NAR", "/nar/"+strings.TrimPrefix(ni.FileHash, "sha256:")+".nar", []byte("hello"), uploadToken, http.StatusBadRequest, "")

	// Now the NAR file: a narinfo that disagrees with it is refused.
	if code, msg := p.put(t, "/"+ni.URL, file, uploadToken); code != http.StatusOK {
		t.Fatalf("PUT %s: %d %s", ni.URL, code, msg)
	}
	edit := func(old, new string) []byte {
		t.Helper()
		if !bytes.Contains(text, []byte(old)) {
			t.Fatalf("narinfo has no %q", old)
		}
		return bytes.Replace(text, []byte(old), []byte(new), 1)
	}
	refuse("NarSize", "/"+hash+".narinfo", edit(fmt.Sprintf("NarSize: %d", ni.NarSize), fmt.Sprintf("NarSize: %d", ni.NarSize+1)),
		uploadToken, http.StatusBadRequest, fmt.Sprintf("NarSize %d", ni.NarSize))
	refuse("NarHash", "/"+hash+".narinfo", edit(ni.NarHash, other.NarHash), uploadToken, http.StatusBadRequest, "NarHash sha256:")
	refuse("FileSize", "/"+hash+".narinfo", edit(fmt.Sprintf("FileSize: %d", ni.FileSize), "FileSize: 1"),
		uploadToken, http.StatusBadRequest, "FileSize")
	refuse("Compression", "/"+hash+".narinfo", edit("Compression: xz", "Compression: zstd"), uploadToken, http.StatusBadRequest, "Compression zstd")
	refuse("other store path", "/"+hashes[1]+".narinfo", text, uploadToken, http.StatusBadRequest, "is not of hash")
	refuse("store dir", "/"+hash+".narinfo", bytes.ReplaceAll(text, []byte("/nix/store/"), []byte("/gnu/store/")),
		uploadToken, http.StatusBadRequest, "")
	refuse("garbage", "/"+hash+".narinfo", []byte("not a narinfo"), uploadToken, http.StatusBadRequest, "")
	refuse("oversized narinfo", "/"+hash+".narinfo", bytes.Repeat([]byte("x"), 2<<20), uploadToken, http.StatusRequestEntityTooLarge, "")
	if resp, _, err := fetchAuth(t, p.ts.URL+"/"+hash+".narinfo", readToken); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("after refused narinfos: GET narinfo: %d %v; want 404", resp.StatusCode, err)
	}

	// The upload credentials also read.
	p.push(t, hash)
	if resp, _, err := fetchAuth(t, p.ts.URL+"/"+hash+".narinfo", uploadToken); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("GET narinfo with the upload token: %v %v; want 200", resp.StatusCode, err)
	}
}

// fetchAuth GETs url with a bearer token.
func fetchAuth(t *testing.T, url, token string) (*http.Response, []byte, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	check(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	check(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

func TestPushOversized(t *testing.T) {
	p := newPushTarget(t, false, 10000)
	hash := p.sampleHashes(t)[0]
	_, ni := p.sampleNarInfo(t, hash)
	file, err := os.ReadFile(filepath.Join(p.bucket, ni.URL))
	check(t, err)
	if ni.FileSize <= 10000 {
		t.Fatalf("sample NAR file %s is too small for the test", ni.URL)
	}
	code, msg := p.put(t, "/"+ni.URL, file, uploadToken)
	if code != http.StatusRequestEntityTooLarge {
		t.Errorf("PUT of %d bytes over a bound of 10000: %d %s; want 413", len(file), code, msg)
	}
}

// TestPushCut cuts an upload halfway: no upload record is left, so its
// narinfo is refused.
func TestPushCut(t *testing.T) {
	p := newPushTarget(t, false, 0)
	hash := p.sampleHashes(t)[0]
	text, ni := p.sampleNarInfo(t, hash)
	file, err := os.ReadFile(filepath.Join(p.bucket, ni.URL))
	check(t, err)
	conn, err := net.Dial("tcp", strings.TrimPrefix(p.ts.URL, "http://"))
	check(t, err)
	fmt.Fprintf(conn, "PUT /%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n", ni.URL, uploadToken, len(file))
	conn.Write(file[:len(file)/2])
	time.Sleep(100 * time.Millisecond)
	conn.Close()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.log.String(), "upload refused") {
		if time.Now().After(deadline) {
			t.Fatalf("cut upload not refused; log:\n%s", p.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, msg := p.put(t, "/"+hash+".narinfo", text, uploadToken); code != http.StatusConflict {
		t.Errorf("narinfo after its cut NAR: %d %s; want 409", code, msg)
	}
	if code := p.status(t, "/"+hash+".narinfo"); code != http.StatusNotFound {
		t.Errorf("GET narinfo after a cut push: %d; want 404", code)
	}
}

func TestPutReadOnly(t *testing.T) {
	ts := newRepo(t).serve(t, server.Options{})
	req, err := http.NewRequest(http.MethodPut, ts.URL+"/nar/x.nar", strings.NewReader("x"))
	check(t, err)
	resp, err := http.DefaultClient.Do(req)
	check(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("PUT to a read-only server: %d; want 405", resp.StatusCode)
	}
}

// TestPushSlow sends a NAR file over longer than the server's ReadTimeout
// and WriteTimeout: an upload that keeps sending is not cut off, and gets
// its answer.
func TestPushSlow(t *testing.T) {
	p := newPushTarget(t, false, 0)
	p.ts.Close()
	hs := server.NewHTTPServer(p.ts.Config.Handler, server.HTTPOptions{ReadTimeout: 300 * time.Millisecond, WriteTimeout: 300 * time.Millisecond})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(t, err)
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	_, ni := p.sampleNarInfo(t, p.sampleHashes(t)[0])
	file, err := os.ReadFile(filepath.Join(p.bucket, ni.URL))
	check(t, err)
	pr, pw := io.Pipe()
	go func() {
		for i, n := 0, len(file)/8+1; i < len(file); i += n {
			time.Sleep(100 * time.Millisecond)
			pw.Write(file[i:min(i+n, len(file))])
		}
		pw.Close()
	}()
	req, err := http.NewRequest(http.MethodPut, "http://"+ln.Addr().String()+"/"+ni.URL, pr)
	check(t, err)
	req.ContentLength = int64(len(file))
	req.Header.Set("Authorization", "Bearer "+uploadToken)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("slow PUT over %v: %v\n%s", time.Since(start), err, p.log)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("slow PUT: %d; want 200\n%s", resp.StatusCode, p.log)
	}
}

func TestPushSignatures(t *testing.T) {
	upstream, err := signature.ParsePublicKey(sample.PublicKey())
	check(t, err)
	ours, ourPub, err := signature.GenerateKey("push-test-1", rand.Reader)
	check(t, err)
	_, stranger, err := signature.GenerateKey("stranger-1", rand.Reader)
	check(t, err)

	// A narinfo signed by none of the required keys is refused.
	p := newPushTarget(t, false, 0, func(o *server.Options) { o.UploadRequireSigs = []signature.PublicKey{stranger} })
	hash := p.sampleHashes(t)[0]
	text, ni := p.sampleNarInfo(t, hash)
	file, err := os.ReadFile(filepath.Join(p.bucket, ni.URL))
	check(t, err)
	if code, msg := p.put(t, "/"+ni.URL, file, uploadToken); code != http.StatusOK {
		t.Fatalf("PUT %s: %d %s", ni.URL, code, msg)
	}
	if code, msg := p.put(t, "/"+hash+".narinfo", text, uploadToken); code != http.StatusBadRequest || !strings.Contains(msg, "no valid signature") {
		t.Errorf("narinfo without a required signature: %d %q; want 400 saying so", code, msg)
	}
	if code := p.status(t, "/"+hash+".narinfo"); code != http.StatusNotFound {
		t.Errorf("GET refused narinfo: %d; want 404", code)
	}

	// One signed by a required key is taken, and the server adds its own
	// signature to the pushed one.
	p = newPushTarget(t, false, 0, func(o *server.Options) {
		o.UploadRequireSigs = []signature.PublicKey{stranger, upstream}
		o.SignKey = &ours
	})
	p.push(t, hash)
	served, err := narinfo.Parse(bytes.NewReader(nixtest.Get(t, p.ts.URL+"/"+hash+".narinfo")))
	check(t, err)
	for _, k := range []signature.PublicKey{upstream, ourPub} {
		if err := served.Verify([]signature.PublicKey{k}); err != nil {
			t.Errorf("served narinfo, key %s: %v", k.Name, err)
		}
	}
}

// TestPushConcurrent pushes one path from several clients at once, and a
// NAR to one server with its narinfo to another over the same repository.
func TestPushConcurrent(t *testing.T) {
	p := newPushTarget(t, false, 0)
	hashes := p.sampleHashes(t)
	text, ni := p.sampleNarInfo(t, hashes[0])
	file, err := os.ReadFile(filepath.Join(p.bucket, ni.URL))
	check(t, err)
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			for _, up := range []struct {
				path string
				body []byte
			}{{"/" + ni.URL, file}, {"/" + hashes[0] + ".narinfo", text}} {
				if code, msg, err := p.request(up.path, up.body, uploadToken); err != nil || code != http.StatusOK {
					t.Errorf("concurrent PUT %s: %d %s %v", up.path, code, msg, err)
				}
			}
		})
	}
	wg.Wait()
	nar := nixtest.Get(t, p.ts.URL+"/nar/"+narName(t, ni)+".nar")
	if sum := sha256.Sum256(nar); "sha256:"+nixbase32.EncodeToString(sum[:]) != ni.NarHash {
		t.Fatal("NAR pushed concurrently reads back different")
	}

	// A second server over the same repository takes the narinfo of a NAR
	// pushed to the first.
	rp2 := testrepo.Open(t, p.be, nrepo.DefaultConfig(), filepath.Join(p.dir, "index2.db"))
	opts, _ := loggingOptions()
	opts.Uploads, opts.UploadAuth = rp2.NARs(), &server.Auth{}
	opts.UploadAuth.AddToken(uploadToken)
	ts2 := httptest.NewServer(server.New(rp2.NARs(), opts))
	t.Cleanup(ts2.Close)
	text, ni = p.sampleNarInfo(t, hashes[1])
	file, err = os.ReadFile(filepath.Join(p.bucket, ni.URL))
	check(t, err)
	if code, msg := p.put(t, "/"+ni.URL, file, uploadToken); code != http.StatusOK {
		t.Fatalf("PUT %s to the first server: %d %s", ni.URL, code, msg)
	}
	second := &pushTarget{ts: ts2}
	if code, msg := second.put(t, "/"+hashes[1]+".narinfo", text, uploadToken); code != http.StatusOK {
		t.Fatalf("PUT narinfo to the second server: %d %s", code, msg)
	}
	if code := p.status(t, "/"+hashes[1]+".narinfo"); code != http.StatusOK {
		t.Errorf("GET from the first server of a narinfo pushed to the second: %d; want 200", code)
	}
}
