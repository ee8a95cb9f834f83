package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/narfmt"
	"github.com/nardedup/nardedup/narstore"
	"github.com/nardedup/nardedup/server"
)

// fakeStore is a server.Store held in maps, for the handler's unit tests.
type fakeStore struct {
	narinfos map[string]string
	nars     map[narfmt.Hash][]byte
	openErr  error // returned by Open, if set
}

func (f *fakeStore) StoreDir() string { return "/nix/store" }

func (f *fakeStore) NarInfo(_ context.Context, hash string) ([]byte, error) {
	text, ok := f.narinfos[hash]
	if !ok {
		return nil, fmt.Errorf("narinfo %s: %w", hash, narstore.ErrNotFound)
	}
	return []byte(text), nil
}

func (f *fakeStore) HasManifest(_ context.Context, h narfmt.Hash) (bool, error) {
	_, ok := f.nars[h]
	return ok, nil
}

func (f *fakeStore) Manifest(_ context.Context, h narfmt.Hash) (*narstore.Manifest, error) {
	nar, ok := f.nars[h]
	if !ok {
		return nil, fmt.Errorf("manifest %s: %w", h, narstore.ErrNotFound)
	}
	return &narstore.Manifest{NarHash: h, NarSize: uint64(len(nar))}, nil
}

func (f *fakeStore) Open(ctx context.Context, h narfmt.Hash) (io.ReadCloser, *narstore.Manifest, error) {
	m, err := f.Manifest(ctx, h)
	if err != nil {
		return nil, nil, err
	}
	if f.openErr != nil {
		return nil, nil, f.openErr
	}
	return io.NopCloser(bytes.NewReader(f.nars[h])), m, nil
}

// oneFileNAR returns the NAR of a single regular file.
func oneFileNAR(t *testing.T, content string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := narfmt.NewWriter(&b)
	check(t, w.WriteHeader(&narfmt.Header{Path: "/", Type: narfmt.TypeRegular, Size: int64(len(content))}))
	_, err := io.WriteString(w, content)
	check(t, err)
	check(t, w.Close())
	return b.Bytes()
}

const (
	fakeHash    = "0c2wd7rkrsp80vm543fsga2n0vzgs345"
	missingHash = "1amilhc47yagdmnn69qp9rscy3nm7abn"
)

func newFake(t *testing.T) (*fakeStore, narfmt.Hash, []byte) {
	nar := oneFileNAR(t, "hello\n")
	h := narfmt.Hash(sha256.Sum256(nar))
	f := &fakeStore{
		narinfos: map[string]string{
			fakeHash: fmt.Sprintf("StorePath: /nix/store/%s-hello\nURL: nar/x.nar\nCompression: none\nNarHash: sha256:%s\nNarSize: %d\nReferences: \n",
				fakeHash, h, len(nar)),
			missingHash: fmt.Sprintf("StorePath: /nix/store/%s-gone\nURL: nar/y.nar\nCompression: none\nNarHash: sha256:%s\nNarSize: 1\nReferences: \n",
				missingHash, narfmt.Hash{}),
		},
		nars: map[narfmt.Hash][]byte{h: nar},
	}
	return f, h, nar
}

var quiet = slog.New(slog.DiscardHandler)

func do(h http.Handler, method, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec
}

func TestHandlerWithFakeStore(t *testing.T) {
	f, h, nar := newFake(t)
	srv := server.New(f, server.Options{Compression: "none", Logger: quiet})
	tests := []struct {
		name, method, path string
		status             int
		body               string // a substring of the body, if not empty
	}{
		{"narinfo", http.MethodGet, "/" + fakeHash + ".narinfo", 200, "URL: nar/" + h.String() + ".nar\n"},
		{"unknown narinfo", http.MethodGet, "/" + strings.Repeat("0", 32) + ".narinfo", 404, ""},
		{"narinfo without its NAR", http.MethodGet, "/" + missingHash + ".narinfo", 404, ""},
		{"bad hash", http.MethodGet, "/e" + fakeHash[1:] + ".narinfo", 404, ""},
		{"NAR", http.MethodGet, "/nar/" + h.String() + ".nar", 200, string(nar)},
		{"NAR HEAD", http.MethodHead, "/nar/" + h.String() + ".nar", 200, ""},
		{"unknown NAR", http.MethodGet, "/nar/" + narfmt.Hash{1}.String() + ".nar", 404, ""},
		{"malformed NAR name", http.MethodGet, "/nar/" + h.String()[1:] + ".nar", 404, ""},
		{"POST", http.MethodPost, "/nix-cache-info", 405, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := do(srv, tt.method, tt.path)
			if rec.Code != tt.status {
				t.Fatalf("%s %s: got status %d; want %d", tt.method, tt.path, rec.Code, tt.status)
			}
			if tt.body != "" && !strings.Contains(rec.Body.String(), tt.body) {
				t.Errorf("%s %s: body %q lacks %q", tt.method, tt.path, rec.Body.String(), tt.body)
			}
		})
	}
}

func TestHandlerStoreErrors(t *testing.T) {
	f, h, _ := newFake(t)
	f.openErr = fmt.Errorf("chunk gone: %w", narstore.ErrCorrupt)
	srv := server.New(f, server.Options{Compression: "none", Logger: quiet})
	if rec := do(srv, http.MethodGet, "/nar/"+h.String()+".nar"); rec.Code != http.StatusInternalServerError {
		t.Errorf("NAR whose store fails: got status %d; want 500", rec.Code)
	}
	f.openErr = nil
	f.narinfos[fakeHash] = "not a narinfo"
	if rec := do(srv, http.MethodGet, "/"+fakeHash+".narinfo"); rec.Code != http.StatusInternalServerError {
		t.Errorf("damaged narinfo: got status %d; want 500", rec.Code)
	}
}
