package forward_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/mem"
	"github.com/nardedup/nardedup/chunkstore/forward"
	"github.com/nardedup/nardedup/chunkstore/index"
	"github.com/nardedup/nardedup/chunkstore/pack"
	"github.com/nardedup/nardedup/internal/backendtest"
)

func id(s string) pack.ID { return pack.Sum([]byte(s)) }

func loc(p string, off int64) index.Location {
	return index.Location{Pack: id(p), FrameOffset: off, FrameCLen: 100, FrameULen: 1000, Offset: 10, Length: 90}
}

// record returns a record of pack "gone" naming chunks c0… in packs a and b.
func record(n int) *forward.Record {
	rec := &forward.Record{Pack: id("gone")}
	for i := range n {
		p := "a"
		if i%3 == 0 {
			p = "b"
		}
		rec.Entries = append(rec.Entries, forward.Entry{ID: id(string(rune('c' + i))), Loc: loc(p, int64(i))})
	}
	return rec
}

func encode(t testing.TB, rec *forward.Record) []byte {
	t.Helper()
	data, err := rec.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// reseal rewrites the checksum of a record changed in place.
func reseal(b []byte) []byte {
	sum := pack.Sum(b[:len(b)-8])
	copy(b[len(b)-8:], sum[:8])
	return b
}

func TestRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 2, 17} {
		rec := record(n)
		data := encode(t, rec)
		got, err := forward.Decode(data)
		if err != nil {
			t.Fatalf("%d entries: %v", n, err)
		}
		if got.Pack != rec.Pack || len(got.Entries) != n {
			t.Fatalf("%d entries: decoded pack %s with %d entries", n, got.Pack, len(got.Entries))
		}
		for _, e := range record(n).Entries {
			l, ok := got.Find(e.ID)
			if !ok || l != e.Loc {
				t.Errorf("%d entries: Find(%s) = %+v, %v; want %+v", n, e.ID, l, ok, e.Loc)
			}
		}
		if _, ok := got.Find(id("absent")); ok {
			t.Errorf("%d entries: found a chunk the record lacks", n)
		}
		if again := encode(t, got); !bytes.Equal(again, data) {
			t.Errorf("%d entries: encoding not canonical", n)
		}
	}
}

func TestEncodeRejects(t *testing.T) {
	tests := []struct {
		name string
		edit func(*forward.Record)
		want string
	}{
		{"duplicate", func(r *forward.Record) { r.Entries = append(r.Entries, r.Entries[0]) }, "twice"},
		{"own pack", func(r *forward.Record) { r.Entries[1].Loc.Pack = r.Pack }, "its own pack"},
		{"outside frame", func(r *forward.Record) { r.Entries[0].Loc.Offset = 999 }, "outside its frame"},
		{"frame too large", func(r *forward.Record) { r.Entries[0].Loc.FrameULen = pack.MaxFrameSize + 1 }, "bad frame"},
		{"negative offset", func(r *forward.Record) { r.Entries[0].Loc.FrameOffset = -1 }, "bad frame"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := record(4)
			tt.edit(rec)
			_, err := rec.Encode()
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), rec.Pack.String()) {
				t.Fatalf("Encode: %v; want an error naming the pack and saying %q", err, tt.want)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	good := encode(t, record(5))
	const head = 4 + 1 + 32 + 4 + 4
	entry := func(i int) int { return head + 2*32 + i*60 } // record(5) has 2 target packs
	tests := []struct {
		name string
		edit func([]byte) []byte
	}{
		{"empty", func([]byte) []byte { return nil }},
		{"truncated", func(b []byte) []byte { return b[:len(b)-1] }},
		{"extra byte", func(b []byte) []byte { return reseal(append(b[:len(b):len(b)], 0)) }},
		{"magic", func(b []byte) []byte { b[0] = 'X'; return reseal(b) }},
		{"version", func(b []byte) []byte { b[4] = 2; return reseal(b) }},
		{"checksum", func(b []byte) []byte { b[entry(0)+40]++; return b }},
		{"entry count", func(b []byte) []byte { binary.BigEndian.PutUint32(b[41:], 1<<30); return reseal(b) }},
		{"target out of range", func(b []byte) []byte { binary.BigEndian.PutUint32(b[entry(1)+32:], 7); return reseal(b) }},
		{"entries out of order", func(b []byte) []byte {
			e0, e1 := append([]byte(nil), b[entry(0):entry(1)]...), append([]byte(nil), b[entry(1):entry(2)]...)
			copy(b[entry(0):], e1)
			copy(b[entry(1):], e0)
			return reseal(b)
		}},
		{"targets out of order", func(b []byte) []byte { copy(b[head+32:], b[head:head+32]); return reseal(b) }},
		{"chunk outside frame", func(b []byte) []byte { binary.BigEndian.PutUint32(b[entry(2)+52:], 1<<20); return reseal(b) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := tt.edit(append([]byte(nil), good...))
			if rec, err := forward.Decode(data); !errors.Is(err, forward.ErrCorrupt) {
				t.Fatalf("Decode = %+v, %v; want an error wrapping ErrCorrupt", rec, err)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	for _, n := range []int{0, 1, 5} {
		f.Add(encode(f, record(n)))
	}
	f.Add([]byte("NDFW\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := forward.Decode(data)
		if err != nil {
			return
		}
		again, err := rec.Encode()
		if err != nil {
			t.Fatalf("a decoded record does not encode: %v", err)
		}
		if !bytes.Equal(again, data) {
			t.Fatal("a decoded record encodes differently")
		}
	})
}

func TestPutGet(t *testing.T) {
	ctx := context.Background()
	be := mem.New()
	p := id("gone")
	if _, err := forward.Get(ctx, be, p); !errors.Is(err, backend.ErrNotExist) || !strings.Contains(err.Error(), p.String()) {
		t.Fatalf("Get of a missing record: %v", err)
	}
	if err := forward.Put(ctx, be, record(3)); err != nil {
		t.Fatal(err)
	}
	if err := forward.Put(ctx, be, record(5)); err != nil { // kept: already there
		t.Fatal(err)
	}
	rec, err := forward.Get(ctx, be, p)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Entries) != 3 {
		t.Errorf("Put replaced a stored record: %d entries, want 3", len(rec.Entries))
	}
	if got := forward.Key(p); got != "forward/"+p.String()[:2]+"/"+p.String() {
		t.Errorf("Key = %s", got)
	}
	// A record stored under another pack's key is damage.
	other := id("other")
	if err := backend.PutBytes(ctx, be, forward.Key(other), encode(t, record(1))); err != nil {
		t.Fatal(err)
	}
	if _, err := forward.Get(ctx, be, other); !errors.Is(err, forward.ErrCorrupt) || !strings.Contains(err.Error(), forward.Key(other)) {
		t.Fatalf("Get of a misplaced record: %v", err)
	}
}

// putPack stores a stand-in for pack p: Resolve only checks that it exists.
func putPack(t testing.TB, be backend.Backend, p pack.ID) {
	t.Helper()
	if err := backend.PutBytes(context.Background(), be, "packs/"+p.String()[:2]+"/"+p.String(), []byte("x")); err != nil {
		t.Fatal(err)
	}
}

func put(t testing.TB, be backend.Backend, from string, to map[string]index.Location) {
	t.Helper()
	rec := &forward.Record{Pack: id(from)}
	for c, l := range to {
		rec.Entries = append(rec.Entries, forward.Entry{ID: id(c), Loc: l})
	}
	if err := forward.Put(context.Background(), be, rec); err != nil {
		t.Fatal(err)
	}
}

func TestResolve(t *testing.T) {
	ctx := context.Background()
	be := mem.New()
	// p1 was repacked into p2 (x, y) and p3 (z); p2 later into p4; loop1
	// and loop2 forward to each other.
	put(t, be, "p1", map[string]index.Location{"x": loc("p2", 1), "y": loc("p2", 2), "z": loc("p3", 3), "w": loc("gone", 4)})
	put(t, be, "p2", map[string]index.Location{"x": loc("p4", 5)})
	put(t, be, "loop1", map[string]index.Location{"x": loc("loop2", 6)})
	put(t, be, "loop2", map[string]index.Location{"x": loc("loop1", 7)})
	putPack(t, be, id("p3"))
	putPack(t, be, id("p4"))
	r := forward.NewResolver(be, 0)

	tests := []struct {
		gone, chunk string
		want        index.Location
		err         error  // wrapped, if an error is wanted
		msg         string // in the error
	}{
		{gone: "p1", chunk: "z", want: loc("p3", 3)},
		{gone: "p1", chunk: "x", want: loc("p4", 5)}, // two hops
		{gone: "p2", chunk: "x", want: loc("p4", 5)}, // one
		{gone: "p1", chunk: "y", err: forward.ErrNotForwarded, msg: "lacks the chunk"},
		{gone: "p1", chunk: "w", err: backend.ErrNotExist, msg: "has no forward record"},
		{gone: "p4", chunk: "x", err: forward.ErrNotForwarded, msg: "has no forward record"},
		{gone: "loop1", chunk: "x", msg: "forwarded more than"},
	}
	for _, tt := range tests {
		got, err := r.Resolve(ctx, id(tt.gone), id(tt.chunk))
		if tt.msg == "" {
			if err != nil || got != tt.want {
				t.Errorf("Resolve(%s, %s) = %+v, %v; want %+v", tt.gone, tt.chunk, got, err, tt.want)
			}
			continue
		}
		if err == nil || (tt.err != nil && !errors.Is(err, tt.err)) || !strings.Contains(err.Error(), tt.msg) ||
			!strings.Contains(err.Error(), id(tt.chunk).String()) || !strings.Contains(err.Error(), id(tt.gone).String()) {
			t.Errorf("Resolve(%s, %s): %v; want an error naming the chunk and the pack, saying %q", tt.gone, tt.chunk, err, tt.msg)
		}
	}
}

func TestResolverCache(t *testing.T) {
	ctx := context.Background()
	be := &backendtest.GetCounter{Backend: mem.New(), Prefix: "forward/"}
	for _, p := range []string{"r1", "r2", "r3"} {
		put(t, be, p, map[string]index.Location{"x": loc("live", 1), "y": loc("live", 2)})
	}
	putPack(t, be, id("live"))
	r := forward.NewResolver(be, 4) // two records of two entries
	resolve := func(p string) {
		t.Helper()
		if _, err := r.Resolve(ctx, id(p), id("x")); err != nil {
			t.Fatal(err)
		}
	}
	resolve("r1")
	resolve("r2")
	resolve("r1") // cached, and now the most recently used
	if n := be.Gets(); n != 2 {
		t.Fatalf("%d reads, want 2", n)
	}
	resolve("r3") // evicts r2
	resolve("r1")
	if n := be.Gets(); n != 3 {
		t.Fatalf("%d reads, want 3", n)
	}
	resolve("r2")
	if n := be.Gets(); n != 4 {
		t.Fatalf("%d reads, want 4: r2 should have been evicted", n)
	}
	if _, records, entries := r.Stats(); records != 2 || entries != 4 {
		t.Errorf("keeps %d records of %d entries, want 2 of 4", records, entries)
	}
}

// statCounter counts Stats of packs.
type statCounter struct {
	backend.Backend
	stats atomic.Int64
}

func (b *statCounter) Stat(ctx context.Context, key string) (backend.Info, error) {
	if strings.HasPrefix(key, "packs/") {
		b.stats.Add(1)
	}
	return b.Backend.Stat(ctx, key)
}

// TestResolverStatsOncePerPack checks that the chunks of one gone pack,
// forwarded to one pack, cost one Stat of that pack, not one each.
func TestResolverStatsOncePerPack(t *testing.T) {
	ctx := context.Background()
	be := &statCounter{Backend: mem.New()}
	to := make(map[string]index.Location)
	for i := range 100 {
		to[fmt.Sprint("c", i)] = loc("live", int64(i))
	}
	put(t, be, "gone", to)
	putPack(t, be, id("live"))
	r := forward.NewResolver(be, 0)
	for c := range to {
		if _, err := r.Resolve(ctx, id("gone"), id(c)); err != nil {
			t.Fatal(err)
		}
	}
	if n := be.stats.Load(); n != 1 {
		t.Errorf("%d Stats of the target pack for %d chunks, want 1", n, len(to))
	}
}

// Concurrent callers that need the same record share one read.
func TestResolverSharesLoads(t *testing.T) {
	ctx := context.Background()
	be := &backendtest.GetCounter{Backend: mem.New(), Prefix: "forward/", Hold: make(chan struct{})}
	put(t, be, "r1", map[string]index.Location{"x": loc("live", 1), "y": loc("live", 2)})
	putPack(t, be, id("live"))
	r := forward.NewResolver(be, 0)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := r.Resolve(ctx, id("r1"), id([]string{"x", "y"}[i%2]))
			errs <- err
		}()
	}
	for {
		if loads, _, _ := r.Stats(); loads == 1 && be.Gets() == 1 {
			break
		}
		runtime.Gosched()
	}
	close(be.Hold)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := be.Gets(); n != 1 {
		t.Errorf("%d reads of the record, want 1", n)
	}
}
