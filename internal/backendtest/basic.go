package backendtest

import (
	"bytes"
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/nardedup/nardedup/chunkstore/backend"
)

func testString(t *testing.T, b backend.Backend) {
	if b.String() == "" {
		t.Fatal("String() is empty")
	}
}

func testRoundTrip(t *testing.T, b backend.Backend) {
	for i, n := range []int{0, 1, 4096, 1<<20 + 7} {
		key := "roundtrip/" + string(rune('a'+i))
		data := Pattern(n, byte(i))
		put(t, b, key, data)
		equal(t, "Get "+key, get(t, b, key, 0, -1), data)
		got, err := backend.ReadAll(context.Background(), b, key)
		if err != nil {
			t.Fatalf("ReadAll(%q): %v", key, err)
		}
		equal(t, "ReadAll "+key, got, data)
	}
}

func testUnknownSize(t *testing.T, b backend.Backend) {
	data := Pattern(100_000, 3)
	if err := b.Put(context.Background(), "unknown", bytes.NewReader(data), -1); err != nil {
		t.Fatalf("Put with size -1: %v", err)
	}
	equal(t, "Get", get(t, b, "unknown", 0, -1), data)
}

func testOddValidKeys(t *testing.T, b backend.Backend) {
	keys := []string{
		"x", "a b/c~d", "ünï/cödé", ".hidden/x", "..a/b", "a./b", "...",
		"deep/1/2/3/4/5/6/7/8/obj", "k=v,w;+@%!",
	}
	for i, k := range keys {
		put(t, b, k, Pattern(10+i, byte(i)))
	}
	got := listKeys(t, b, "")
	sameKeys(t, "List", got, keys)
	for i, k := range keys {
		equal(t, "Get "+k, get(t, b, k, 0, -1), Pattern(10+i, byte(i)))
		if got[k] != int64(10+i) {
			t.Errorf("List size of %q = %d, want %d", k, got[k], 10+i)
		}
	}
}

func testRangedGet(t *testing.T, b backend.Backend) {
	const n = 1000
	data := Pattern(n, 7)
	put(t, b, "ranged", data)
	tests := []struct {
		name        string
		off, length int64
		want        []byte
	}{
		{"whole", 0, -1, data},
		{"whole exact", 0, n, data},
		{"head", 0, 10, data[:10]},
		{"middle", 100, 50, data[100:150]},
		{"tail to end", 500, -1, data[500:]},
		{"past end cut", 990, 100, data[990:]},
		{"last byte", n - 1, 1, data[n-1:]},
		{"at end", n, 10, nil},
		{"at end unbounded", n, -1, nil},
		{"beyond end", 2 * n, 5, nil},
		{"beyond end unbounded", 2 * n, -1, nil},
		{"length zero", 5, 0, nil},
		{"length zero at start", 0, 0, nil},
		{"huge length", 10, math.MaxInt64, data[10:]},
		{"huge offset", math.MaxInt64, math.MaxInt64, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			equal(t, "Get", get(t, b, "ranged", tc.off, tc.length), tc.want)
		})
	}
}

func testRangedGetEmpty(t *testing.T, b backend.Backend) {
	put(t, b, "empty", nil)
	for _, r := range [][2]int64{{0, -1}, {0, 0}, {0, 10}, {5, -1}, {5, 5}} {
		if got := get(t, b, "empty", r[0], r[1]); len(got) != 0 {
			t.Errorf("Get(empty, %d, %d) = %d bytes, want 0", r[0], r[1], len(got))
		}
	}
}

func testStat(t *testing.T, b backend.Backend) {
	ctx := context.Background()
	for i, n := range []int{0, 1, 12345} {
		key := "stat/" + string(rune('a'+i))
		put(t, b, key, Pattern(n, 1))
		info, err := b.Stat(ctx, key)
		if err != nil {
			t.Fatalf("Stat(%q): %v", key, err)
		}
		if info.Key != key || info.Size != int64(n) {
			t.Errorf("Stat(%q) = %+v, want {Key:%s Size:%d}", key, info, key, n)
		}
	}
}

func testList(t *testing.T, b backend.Backend) {
	keys := []string{"a/1", "a/2", "a/b/3", "a/b/c/4", "ab/5", "b", "bc", "c/d/6"}
	for i, k := range keys {
		put(t, b, k, Pattern(i, byte(i)))
	}
	tests := []struct {
		prefix string
		want   []string
	}{
		{"", keys},
		{"a", []string{"a/1", "a/2", "a/b/3", "a/b/c/4", "ab/5"}},
		{"a/", []string{"a/1", "a/2", "a/b/3", "a/b/c/4"}},
		{"a/b", []string{"a/b/3", "a/b/c/4"}},
		{"a/b/", []string{"a/b/3", "a/b/c/4"}},
		{"a/b/c/4", []string{"a/b/c/4"}},
		{"a/1", []string{"a/1"}},
		{"b", []string{"b", "bc"}},
		{"c/", []string{"c/d/6"}},
		{"c/d/6/", []string{}},
		{"z", []string{}},
		{"z/y/", []string{}},
	}
	for _, tc := range tests {
		t.Run("prefix="+tc.prefix, func(t *testing.T) {
			got := listKeys(t, b, tc.prefix)
			sameKeys(t, "List", got, tc.want)
			for i, k := range keys {
				if size, ok := got[k]; ok && size != int64(i) {
					t.Errorf("size of %q = %d, want %d", k, size, i)
				}
			}
		})
	}
}

func testListStopsOnError(t *testing.T, b backend.Backend) {
	for i := range 5 {
		put(t, b, "stop/"+string(rune('a'+i)), []byte{byte(i)})
	}
	stop := errors.New("stop here")
	calls := 0
	err := b.List(context.Background(), "stop/", func(backend.Info) error {
		calls++
		return stop
	})
	wantErr(t, "List", err, stop)
	if calls != 1 {
		t.Fatalf("fn called %d times after returning an error, want 1", calls)
	}
}

func testListHostilePrefix(t *testing.T, b backend.Backend) {
	put(t, b, "in/x", []byte("x"))
	for _, p := range []string{"../", "..", "/", "/etc", "../../", "in/../", "\\", "\x00"} {
		_ = b.List(context.Background(), p, func(info backend.Info) error {
			t.Errorf("List(%q) reported %q", p, info.Key)
			return nil
		})
	}
}

// testModTime checks that Stat and List report when an object was stored.
// Object stores keep whole seconds, so the window is widened by a second on
// each side.
func testModTime(t *testing.T, b backend.Backend) {
	before := time.Now().Add(-time.Second)
	put(t, b, "modtime/x", Pattern(10, 1))
	after := time.Now().Add(time.Second)
	check := func(what string, mt time.Time) {
		t.Helper()
		if mt.Before(before) || mt.After(after) {
			t.Errorf("%s ModTime = %v, want between %v and %v", what, mt, before, after)
		}
	}
	fi, err := b.Stat(context.Background(), "modtime/x")
	if err != nil {
		t.Fatal(err)
	}
	check("Stat", fi.ModTime)
	n := 0
	err = b.List(context.Background(), "modtime/", func(fi backend.Info) error {
		n++
		check("List", fi.ModTime)
		return nil
	})
	if err != nil || n != 1 {
		t.Fatalf("List: %d objects, %v", n, err)
	}
}
