package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/nardedup/nardedup/narfmt"
	"github.com/nardedup/nardedup/narfmt/narinfo"
	"github.com/nardedup/nardedup/narstore"
	"github.com/nardedup/nardedup/server"
)

// fakeUploads is a repository holding the record of one pushed NAR file
// and the narinfos written since.
type fakeUploads struct {
	file string
	u    narstore.Upload

	mu       sync.Mutex
	narinfos map[string][]byte
}

func (f *fakeUploads) StoreDir() string { return "/nix/store" }
func (f *fakeUploads) NarInfo(_ context.Context, hash string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if text, ok := f.narinfos[hash]; ok {
		return text, nil
	}
	return nil, narstore.ErrNotFound
}
func (f *fakeUploads) HasManifest(_ context.Context, h narfmt.Hash) (bool, error) {
	return h == f.u.NarHash, nil
}
func (f *fakeUploads) Manifest(context.Context, narfmt.Hash) (*narstore.Manifest, error) {
	return nil, narstore.ErrNotFound
}
func (f *fakeUploads) Open(context.Context, narfmt.Hash) (io.ReadCloser, *narstore.Manifest, error) {
	return nil, nil, narstore.ErrNotFound
}
func (f *fakeUploads) PutPushedNAR(context.Context, string, io.Reader, func(narfmt.Hash, uint64) error) (narstore.PutResult, narfmt.Hash, error) {
	return narstore.PutResult{}, narfmt.Hash{}, fmt.Errorf("not in the fake")
}
func (f *fakeUploads) PutUpload(context.Context, string, narstore.Upload) error {
	return fmt.Errorf("not in the fake")
}
func (f *fakeUploads) Upload(_ context.Context, file string) (narstore.Upload, error) {
	if file != f.file {
		return narstore.Upload{}, narstore.ErrNotFound
	}
	return f.u, nil
}
func (f *fakeUploads) HoldNAR(context.Context, narfmt.Hash) (func(), error) { return func() {}, nil }
func (f *fakeUploads) PutNarInfo(ctx context.Context, hash string, narHash narfmt.Hash, text []byte) error {
	if ok, _ := f.HasManifest(ctx, narHash); !ok {
		return narstore.ErrNotFound
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.narinfos[hash] = text
	return nil
}

// FuzzPushNarInfo pushes arbitrary narinfos for a NAR file whose record
// is stored: none gets a 5xx, and one is stored only if it parses and
// matches the record.
func FuzzPushNarInfo(f *testing.F) {
	for _, name := range []string{"16w49fbl51m3453x0yafg698kc03grk2", "dnrh6vs4qwcf86rscbwch7q5a86lhay8"} {
		text, err := os.ReadFile(filepath.Join("..", "testdata", "sample", "bucket", name+".narinfo"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(name, text)
	}
	seed, err := os.ReadFile(filepath.Join("..", "testdata", "sample", "bucket", "16w49fbl51m3453x0yafg698kc03grk2.narinfo"))
	if err != nil {
		f.Fatal(err)
	}
	ni, err := narinfo.Parse(bytes.NewReader(seed))
	if err != nil {
		f.Fatal(err)
	}
	narHash, err := ni.NarSHA256()
	if err != nil {
		f.Fatal(err)
	}
	fileHash, err := narfmt.ParseHash(ni.FileHash[len("sha256:"):])
	if err != nil {
		f.Fatal(err)
	}
	record := narstore.Upload{NarHash: narHash, NarSize: ni.NarSize, FileHash: fileHash, FileSize: ni.FileSize}
	f.Fuzz(func(t *testing.T, hash string, text []byte) {
		up := &fakeUploads{file: ni.URL[len("nar/"):], u: record, narinfos: map[string][]byte{}}
		opts, _ := loggingOptions()
		opts.Uploads, opts.UploadAuth = up, &server.Auth{}
		opts.UploadAuth.AddToken(uploadToken)
		h := server.New(up, opts)
		req := httptest.NewRequest(http.MethodPut, "/x.narinfo", bytes.NewReader(text))
		req.URL.Path = "/" + hash + ".narinfo"
		req.Header.Set("Authorization", "Bearer "+uploadToken)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("PUT narinfo %q: %d %s", hash, w.Code, w.Body)
		}
		stored, ok := up.narinfos[hash]
		if (w.Code == http.StatusOK) != ok {
			t.Fatalf("PUT narinfo %q: %d, stored %v", hash, w.Code, ok)
		}
		if !ok {
			return
		}
		got, err := narinfo.Parse(bytes.NewReader(stored))
		if err != nil {
			t.Fatalf("stored narinfo does not parse: %v", err)
		}
		if sum, err := got.NarSHA256(); err != nil || sum != narHash || got.NarSize != ni.NarSize || got.FileSize != ni.FileSize {
			t.Fatalf("stored a narinfo that does not match the pushed NAR:\n%s", stored)
		}
	})
}
