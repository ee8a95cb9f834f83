package ingest_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nardedup/nardedup/ingest"
	"github.com/nardedup/nardedup/internal/decompress"
	"github.com/nardedup/nardedup/internal/nixtest"
	"github.com/nardedup/nardedup/narfmt"
	"github.com/nardedup/nardedup/narfmt/nixhash"
	"github.com/nardedup/nardedup/narstore"
	"github.com/nardedup/nardedup/repo/layout"
	"github.com/nardedup/nardedup/source"
)

// victim is the sample store path the bad-input cases damage: its NAR file
// and NarHash belong to no other narinfo of the sample.
const victim = "16w49fbl51m3453x0yafg698kc03grk2"

// damaged is a copy of the sample bucket with the victim's narinfo (ni) and
// NAR file (nar) at hand.
type damaged struct {
	t   *testing.T
	dir string
	ni  []byte
	nar string // path of the victim's NAR file
}

func (d *damaged) setNarInfo(text []byte) {
	must(d.t, os.WriteFile(filepath.Join(d.dir, victim+".narinfo"), text, 0o644))
}

func (d *damaged) set(key, value string) { d.setNarInfo(setField(d.ni, key, value)) }

func (d *damaged) readNAR() []byte {
	data, err := os.ReadFile(d.nar)
	must(d.t, err)
	return data
}

func (d *damaged) writeNAR(data []byte) { must(d.t, os.WriteFile(d.nar, data, 0o644)) }

// otherHash is a well-formed SHA-256 hash no NAR in the sample has.
func otherHash(t testing.TB) string {
	h, err := nixhash.Sum(nixhash.SHA256, []byte("not this NAR"))
	must(t, err)
	return h.String()
}

type badCase struct {
	name    string
	damage  func(d *damaged)
	is      error  // sentinel the failure must wrap, or nil
	mention string // else a substring its message must contain
}

var badCases = []badCase{
	{"NarHash", func(d *damaged) { d.set("NarHash", otherHash(d.t)) }, narstore.ErrHashMismatch, ""},
	{"NarSize larger", func(d *damaged) { d.set("NarSize", plus(d, "NarSize", 8)) }, narstore.ErrHashMismatch, ""},
	{"NarSize smaller", func(d *damaged) { d.set("NarSize", plus(d, "NarSize", -8)) }, narstore.ErrHashMismatch, ""},
	{"FileHash", func(d *damaged) { d.set("FileHash", otherHash(d.t)) }, ingest.ErrFileMismatch, ""},
	{"FileSize", func(d *damaged) { d.set("FileSize", plus(d, "FileSize", 1)) }, ingest.ErrFileMismatch, ""},
	{"truncated xz", func(d *damaged) { n := d.readNAR(); d.writeNAR(n[:len(n)/2]) }, nil, "xz"},
	{"corrupt xz", corruptXZ, nil, "xz"},
	{"missing NAR", func(d *damaged) { must(d.t, os.Remove(d.nar)) }, source.ErrNotFound, ""},
	{"garbage narinfo", func(d *damaged) { d.setNarInfo([]byte("\x00\x01garbage\xff\n")) }, nil, "narinfo"},
	{"StorePath of another path", otherStorePath, nil, "describes another path"},
	{"compression lz4", func(d *damaged) { d.set("Compression", "lz4") }, decompress.ErrUnsupported, ""},
	{"Compression none of xz", func(d *damaged) { d.set("Compression", "none") }, nil, "is not an uncompressed NAR"},
	{"Compression zstd of xz", func(d *damaged) { d.set("Compression", "zstd") }, nil, "is not zstd data"},
	{"Compression bzip2 of xz", func(d *damaged) { d.set("Compression", "bzip2") }, nil, "is not bzip2 data"},
	{"URL escaping the cache", func(d *damaged) { d.set("URL", "../../etc/passwd") }, source.ErrBadURL, ""},
	{"not a NAR", notANAR, narfmt.ErrInvalid, ""},
	{"decompression bomb", bomb, narstore.ErrHashMismatch, ""},
}

func plus(d *damaged, key string, delta int64) string {
	return itoa(sizeField(d.t, d.ni, key) + delta)
}

// corruptXZ flips bytes in the middle of the compressed data.
func corruptXZ(d *damaged) {
	data := d.readNAR()
	for i := len(data) / 2; i < len(data)/2+16; i++ {
		data[i] ^= 0x55
	}
	d.writeNAR(data)
}

// otherStorePath changes the hash part of the narinfo's StorePath.
func otherStorePath(d *damaged) {
	sp := nixtest.Field(d.ni, "StorePath")
	i := strings.LastIndexByte(sp, '/') + 1
	c := byte('0')
	if sp[i] == '0' {
		c = '1'
	}
	d.set("StorePath", sp[:i]+string(c)+sp[i+1:])
}

// TestBadInput damages the sample bucket in one way per case and checks
// that exactly the victim fails, with an error about the damage, and that
// everything else is ingested and nothing of the victim is visible.
func TestBadInput(t *testing.T) {
	for _, tc := range badCases {
		t.Run(tc.name, func(t *testing.T) {
			dir := sampleBucket(t)
			orig := narinfos(t, dir)
			d := &damaged{t: t, dir: dir, ni: orig[victim]}
			d.nar = filepath.Join(dir, filepath.FromSlash(nixtest.Field(d.ni, "URL")))
			checkVictimUnique(t, orig)
			tc.damage(d)

			r := newRepo(t)
			src, err := source.Open(dir)
			must(t, err)
			cs := newCountingSource(src)
			start := time.Now()
			var st *ingest.Stats
			peak := peakHeap(func() { st, err = ingest.Run(context.Background(), cs, r.rp, ingest.Options{Jobs: 4}) })
			t.Logf("%v, peak heap %d MiB, read %d bytes of the victim's NAR file; failure: %v",
				time.Since(start).Round(time.Millisecond), peak>>20, cs.read(nixtest.Field(d.ni, "URL")), st.Failures)
			if peak > 256<<20 {
				t.Errorf("peak heap %d MiB; want bounded memory", peak>>20)
			}
			checkOnlyVictimFailed(t, r, orig, st, err, tc)
			if tc.name == "decompression bomb" {
				checkBombRefusedEarly(t, cs, d)
			}
		})
	}
}

// checkVictimUnique makes sure no other narinfo shares the victim's NAR.
func checkVictimUnique(t *testing.T, orig map[string][]byte) {
	t.Helper()
	for h, ni := range orig {
		if h != victim && (nixtest.Field(ni, "URL") == nixtest.Field(orig[victim], "URL") ||
			nixtest.Field(ni, "NarHash") == nixtest.Field(orig[victim], "NarHash")) {
			t.Fatalf("%s shares the victim's NAR", h)
		}
	}
}

func checkOnlyVictimFailed(t *testing.T, r *repo, orig map[string][]byte, st *ingest.Stats, err error, tc badCase) {
	t.Helper()
	if err == nil {
		t.Error("Run returned nil error")
	}
	if len(st.Failures) != 1 || st.Failed != 1 || st.Failures[0].Hash != victim {
		t.Fatalf("failures %v (Failed %d); want exactly %s", st.Failures, st.Failed, victim)
	}
	ferr := st.Failures[0].Err
	if tc.is != nil && !errors.Is(ferr, tc.is) {
		t.Errorf("failure %q does not wrap %q", ferr, tc.is)
	}
	if tc.is == nil && !strings.Contains(ferr.Error(), tc.mention) {
		t.Errorf("failure %q does not mention %q", ferr, tc.mention)
	}
	if st.Seen != len(orig) || st.Committed+st.Linked != len(orig)-1 {
		t.Errorf("seen %d, committed %d, linked %d; want %d seen, %d committed or linked",
			st.Seen, st.Committed, st.Linked, len(orig), len(orig)-1)
	}
	ctx := context.Background()
	wantManifests := make(map[string]bool)
	for h, ni := range orig {
		ok, err := r.st.HasNarInfo(ctx, h)
		must(t, err)
		if ok != (h != victim) {
			t.Errorf("HasNarInfo(%s) = %v", h, ok)
		}
		if h != victim {
			wantManifests[layout.ManifestOf(narHash(t, ni)).Key()] = true
		}
	}
	checkSameKeys(t, "manifests", r.keys(t, "manifests/"), wantManifests)
	if keys := r.keys(t, "narinfo/"); len(keys) != len(orig)-1 || keys[layout.NarInfoOf(victim).Key()] {
		t.Errorf("%d narinfo objects, victim's present: %v; want %d without it",
			len(keys), keys[layout.NarInfoOf(victim).Key()], len(orig)-1)
	}
}

func checkSameKeys(t *testing.T, what string, got, want map[string]bool) {
	t.Helper()
	for k := range got {
		if !want[k] {
			t.Errorf("unexpected %s object %s", what, k)
		}
	}
	for k := range want {
		if !got[k] {
			t.Errorf("missing %s object %s", what, k)
		}
	}
}

// peakHeap runs fn and returns the largest heap size seen meanwhile.
func peakHeap(fn func()) uint64 {
	var peak atomic.Uint64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	fn()
	close(stop)
	<-done
	return peak.Load()
}

// TestLinkChecksNarSize adds a narinfo for a new store path whose NarHash
// names a stored NAR but whose NarSize is wrong: it must not be linked.
func TestLinkChecksNarSize(t *testing.T) {
	dir := sampleBucket(t)
	r := newRepo(t)
	st, err := r.ingestDir(t, dir)
	if err != nil {
		t.Fatalf("%v %v", err, st.Failures)
	}
	ni := narinfos(t, dir)[victim]
	const other = "0000000000000000000000000000000a"
	sp := strings.Replace(nixtest.Field(ni, "StorePath"), victim, other, 1)
	ni = setField(setField(ni, "StorePath", sp), "NarSize", itoa(sizeField(t, ni, "NarSize")+8))
	must(t, os.WriteFile(filepath.Join(dir, other+".narinfo"), ni, 0o644))
	st, err = r.ingestDir(t, dir)
	if err == nil || len(st.Failures) != 1 || st.Failures[0].Hash != other {
		t.Fatalf("Run: %v, failures %v, linked %d; want %s to fail", err, st.Failures, st.Linked, other)
	}
	if !errors.Is(st.Failures[0].Err, narstore.ErrHashMismatch) {
		t.Errorf("failure %q does not wrap %q", st.Failures[0].Err, narstore.ErrHashMismatch)
	}
	if ok, err := r.st.HasNarInfo(context.Background(), other); err != nil || ok {
		t.Errorf("HasNarInfo(%s) = %v, %v; want false", other, ok, err)
	}
}
