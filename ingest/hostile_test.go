package ingest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/nardedup/nardedup/ingest"
	"github.com/nardedup/nardedup/source"
)

// Hostile sources: binary caches, served over HTTP beside the sample, whose
// files for some store paths are made to hurt. Each case must fail only
// those store paths, promptly and by name, and the rest of the run must be
// ingested.

// endlessCases serve a file that never ends: a start, then pad forever.
// Decoders read empty zstd frames, xz stream padding and empty bzip2
// streams without producing a byte, so only the bound on the compressed
// file stops them.
var endlessCases = []struct {
	name, compression string
	start, pad        func(t *testing.T) []byte
	noFileSize        bool // the narinfo has no FileSize: NarSize bounds the file
}{
	{"zstd", "zstd", nothing, emptyZstdFrame, false},
	{"zstd without FileSize", "zstd", nothing, emptyZstdFrame, true},
	{"xz", "xz", emptyXZStream, zeros, false},
	{"bzip2", "bzip2", nothing, emptyBzip2Stream, false},
	{"none", "none", hugeFileNAR, zeros, false},
}

// endlessNarSize is the NarSize of the endless cases' narinfos.
const endlessNarSize = 62816

func nothing(*testing.T) []byte { return nil }

func zeros(*testing.T) []byte { return make([]byte, 4096) }

func emptyZstdFrame(t *testing.T) []byte {
	enc, err := zstd.NewWriter(nil, zstd.WithZeroFrames(true))
	must(t, err)
	defer enc.Close()
	return enc.EncodeAll(nil, nil)
}

func emptyXZStream(t *testing.T) []byte {
	var b bytes.Buffer
	w, err := xz.NewWriter(&b)
	must(t, err)
	must(t, w.Close())
	return b.Bytes()
}

// emptyBzip2Stream is what `bzip2 </dev/null` writes: the header and the
// end-of-stream marker with a zero CRC.
func emptyBzip2Stream(*testing.T) []byte {
	return []byte("BZh9\x17\x72\x45\x38\x50\x90\x00\x00\x00\x00")
}

// hugeFileNAR is the start of a NAR of one regular file of 1 TiB.
func hugeFileNAR(*testing.T) []byte {
	var b bytes.Buffer
	for _, s := range []string{"nix-archive-1", "(", "type", "regular", "contents"} {
		narString(&b, s)
	}
	b.Write([]byte{0, 0, 0, 0, 0, 1, 0, 0})
	return b.Bytes()
}

// endlessHandler writes start, then pad until the client goes away.
func endlessHandler(start, pad []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		block := bytes.Repeat(pad, max(1, 64<<10/len(pad)))
		w.Write(start)
		for r.Context().Err() == nil {
			if _, err := w.Write(block); err != nil {
				return
			}
		}
	}
}

// TestEndlessFile serves one endless file per case beside the sample: each
// of their store paths fails with an error naming it and its file, after
// reading at most one byte more than the file may have, and every sample
// path is ingested.
func TestEndlessFile(t *testing.T) {
	dir := sampleBucket(t)
	sampleHashes := slices.Sorted(maps.Keys(narinfos(t, dir)))
	mux := http.NewServeMux()
	mux.Handle("/", http.FileServer(http.Dir(dir)))
	want := make(map[string]string) // store path hash: URL
	limit := make(map[string]int64) // by URL: the bytes ingest may read
	for i, tc := range endlessCases {
		h := fmt.Sprintf("%032d", i+1)
		u := "nar/endless-" + strings.ReplaceAll(tc.name, " ", "-")
		mux.Handle("/"+u, endlessHandler(tc.start(t), tc.pad(t)))
		ni := fmt.Sprintf("StorePath: /nix/store/%s-endless\nURL: %s\nCompression: %s\n", h, u, tc.compression)
		limit[u] = 117 + 1
		if tc.noFileSize {
			limit[u] = endlessNarSize + endlessNarSize/8 + 1<<20 + 1
		} else {
			ni += "FileSize: 117\n"
		}
		ni += fmt.Sprintf("NarHash: %s\nNarSize: %d\n", sha256String(t, []byte(u)), endlessNarSize)
		must(t, os.WriteFile(filepath.Join(dir, h+".narinfo"), []byte(ni), 0o644))
		want[h] = u
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	base, err := url.Parse(srv.URL)
	must(t, err)
	src, err := source.WithHashes(source.NewHTTP(base, srv.Client()), append(slices.Collect(maps.Keys(want)), sampleHashes...))
	must(t, err)
	cs := newCountingSource(src)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := newRepo(t)
	start := time.Now()
	st, err := ingest.Run(ctx, cs, r.rp, ingest.Options{Jobs: 4})
	t.Logf("%v: %v", time.Since(start).Round(time.Millisecond), err)
	if ctx.Err() != nil {
		t.Fatalf("ingest did not finish in a minute: %v", st.Failures)
	}
	if st.Failed != len(want) || st.Committed+st.Linked != len(sampleHashes) {
		t.Errorf("failed %d, committed %d, linked %d; want %d failed and the %d sample paths in",
			st.Failed, st.Committed, st.Linked, len(want), len(sampleHashes))
	}
	for _, f := range st.Failures {
		u, ok := want[f.Hash]
		if !ok {
			t.Errorf("unexpected failure %v", f)
			continue
		}
		t.Logf("read %d bytes of %s: %v", cs.read(u), u, f)
		if !errors.Is(f.Err, ingest.ErrFileMismatch) || !strings.Contains(f.Err.Error(), f.Hash) ||
			!strings.Contains(f.Err.Error(), u) {
			t.Errorf("failure %v: want an ErrFileMismatch naming the store path and %s", f, u)
		}
		if n := cs.read(u); n > limit[u] {
			t.Errorf("read %d bytes of %s; want at most %d", n, u, limit[u])
		}
	}
}
