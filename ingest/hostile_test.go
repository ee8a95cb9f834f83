package ingest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/nardedup/nardedup/ingest"
	"github.com/nardedup/nardedup/internal/decompress"
	"github.com/nardedup/nardedup/internal/nixtest"
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

// twinCases damage the copy of a NAR that one store path, the twin, has of
// the victim's NAR: same NarHash, its own narinfo and file. The twin takes
// the NAR first; the victim, waiting for it, must get it from its own file.
var twinCases = []struct {
	name    string
	damage  func(t *testing.T, ni, file []byte) ([]byte, []byte) // the twin's narinfo and file
	mention string                                               // in the twin's failure
}{
	{"NarSize", func(t *testing.T, ni, file []byte) ([]byte, []byte) {
		return setField(ni, "NarSize", itoa(sizeField(t, ni, "NarSize")+8)), file
	}, "NarSize"},
	{"truncated xz", func(t *testing.T, ni, file []byte) ([]byte, []byte) {
		file = file[:len(file)/2]
		ni = setField(ni, "FileHash", sha256String(t, file))
		return setField(ni, "FileSize", itoa(int64(len(file)))), file
	}, "xz"},
	{"FileHash", func(t *testing.T, ni, file []byte) ([]byte, []byte) {
		return setField(ni, "FileHash", otherHash(t)), file
	}, "FileHash"},
}

// twin is the store path hash of the victim's twin.
const twin = "00000000000000000000000000000000"

// TestTwinFailsAlone ingests, twice, the sample plus a twin of the victim
// whose copy of the NAR is damaged: the twin fails by itself, and the
// victim is stored and reads back byte for byte.
func TestTwinFailsAlone(t *testing.T) {
	for _, tc := range twinCases {
		t.Run(tc.name, func(t *testing.T) {
			dir := sampleBucket(t)
			nis := narinfos(t, dir)
			vni := nis[victim]
			vfile, err := os.ReadFile(filepath.Join(dir, nixtest.Field(vni, "URL")))
			must(t, err)
			sp := strings.Replace(nixtest.Field(vni, "StorePath"), victim, twin, 1)
			ni, file := tc.damage(t, setField(setField(vni, "StorePath", sp), "URL", "nar/twin.nar.xz"), vfile)
			must(t, os.WriteFile(filepath.Join(dir, "nar", "twin.nar.xz"), file, 0o644))
			must(t, os.WriteFile(filepath.Join(dir, twin+".narinfo"), ni, 0o644))

			srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
			defer srv.Close()
			base, err := url.Parse(srv.URL)
			must(t, err)
			src := newTwinSource(source.NewHTTP(base, srv.Client()), slices.Sorted(maps.Keys(nis)))
			r := newRepo(t)
			for run := 1; run <= 2; run++ {
				st, err := ingest.Run(context.Background(), src, r.rp, ingest.Options{Jobs: 2})
				t.Logf("run %d: %v %v", run, err, st.Failures)
				for _, f := range st.Failures {
					if f.Hash != twin {
						t.Errorf("run %d: unexpected failure %v", run, f)
					}
				}
				if run == 1 && (len(st.Failures) != 1 || !strings.Contains(st.Failures[0].Err.Error(), tc.mention)) {
					t.Errorf("run 1: failures %v; want the twin's, about its %s", st.Failures, tc.mention)
				}
				checkNARServed(t, r, vni, vfile)
			}
		})
	}
}

// checkNARServed checks that the store path of narinfo ni is in the
// repository with the NAR that file, a .nar.xz, holds.
func checkNARServed(t *testing.T, r *repo, ni, file []byte) {
	t.Helper()
	ctx := context.Background()
	want, err := decompress.NewReader(ctx, bytes.NewReader(file), "xz")
	must(t, err)
	defer want.Close()
	wantNAR, err := io.ReadAll(want)
	must(t, err)
	got, _, err := r.st.Open(ctx, narHash(t, ni))
	if err != nil {
		t.Fatalf("NAR of %s: %v", nixtest.Field(ni, "StorePath"), err)
	}
	defer got.Close()
	gotNAR, err := io.ReadAll(got)
	must(t, err)
	if !bytes.Equal(gotNAR, wantNAR) {
		t.Errorf("NAR of %s read back as %d bytes, not the %d of its file", nixtest.Field(ni, "StorePath"), len(gotNAR), len(wantNAR))
	}
}

// twinSource lists the twin, then the victim, then the other hashes. It
// holds back the victim's narinfo until the twin's file is opened, and
// that file until a third path is read: on two workers, the victim is sure
// to wait for the NAR the twin is storing.
type twinSource struct {
	source.Source
	order       []string
	opened      chan struct{} // closed when the twin's file is opened
	third       chan struct{} // closed when the third path's narinfo is read
	once, once3 sync.Once
}

func newTwinSource(src source.Source, sample []string) *twinSource {
	order := []string{twin, victim}
	for _, h := range sample {
		if h != victim {
			order = append(order, h)
		}
	}
	return &twinSource{Source: src, order: order, opened: make(chan struct{}), third: make(chan struct{})}
}

func (s *twinSource) List(ctx context.Context, fn func(string) error) error {
	for _, h := range s.order {
		if err := fn(h); err != nil {
			return err
		}
	}
	return nil
}

func (s *twinSource) NarInfo(ctx context.Context, h string) ([]byte, error) {
	switch h {
	case victim:
		wait(s.opened)
	case s.order[2]:
		s.once3.Do(func() { close(s.third) })
	}
	return s.Source.NarInfo(ctx, h)
}

func (s *twinSource) Open(ctx context.Context, u string) (io.ReadCloser, error) {
	if u == "nar/twin.nar.xz" {
		s.once.Do(func() { close(s.opened) })
		wait(s.third)
	}
	return s.Source.Open(ctx, u)
}

// wait waits for c to be closed, or for 10 seconds if it is not.
func wait(c chan struct{}) {
	select {
	case <-c:
	case <-time.After(10 * time.Second):
	}
}
