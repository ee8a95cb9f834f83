// Package backendtest is the conformance suite that every backend.Backend
// implementation runs, and a set of benchmarks to compare them.
//
// The suite only uses the Backend interface, so it fits local, in-memory and
// remote (S3-like) backends alike. A backend's test calls
//
//	func TestConformance(t *testing.T) {
//		backendtest.Run(t, func(t *testing.T) backend.Backend { … })
//	}
package backendtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"testing"

	"github.com/nardedup/nardedup/chunkstore/backend"
)

// Run runs the conformance suite as subtests of t. open must return a new,
// empty backend for each subtest; it runs on the subtest's goroutine, may
// call t.Fatal, and must not close the backend: Run closes it when the
// subtest ends. Subtests do not run in parallel with each other.
func Run(t *testing.T, open func(t *testing.T) backend.Backend) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b backend.Backend)
	}{
		{"String", testString},
		{"RoundTrip", testRoundTrip},
		{"UnknownSize", testUnknownSize},
		{"OddValidKeys", testOddValidKeys},
		{"RangedGet", testRangedGet},
		{"RangedGetEmpty", testRangedGetEmpty},
		{"Stat", testStat},
		{"ModTime", testModTime},
		{"List", testList},
		{"ListStopsOnError", testListStopsOnError},
		{"ListHostilePrefix", testListHostilePrefix},
		{"Delete", testDelete},
		{"NotExist", testNotExist},
		{"InvalidKeys", testInvalidKeys},
		{"SizeMismatch", testSizeMismatch},
		{"ReaderError", testReaderError},
		{"Overwrite", testOverwrite},
		{"CancelledContext", testCancelledContext},
		{"CancelDuringPut", testCancelDuringPut},
		{"AtomicUnderReaders", testAtomicUnderReaders},
		{"ConcurrentPuts", testConcurrentPuts},
		{"ConcurrentSameKey", testConcurrentSameKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := open(t)
			t.Cleanup(func() {
				if err := b.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, b)
		})
	}
}

// Pattern returns n deterministic pseudo-random bytes that differ with
// seed, for test objects.
func Pattern(n int, seed byte) []byte {
	p := make([]byte, n)
	x := uint32(seed)*2654435761 + 1
	for i := range p {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		p[i] = byte(x)
	}
	return p
}

func put(t testing.TB, b backend.Backend, key string, data []byte) {
	t.Helper()
	if err := backend.PutBytes(context.Background(), b, key, data); err != nil {
		t.Fatalf("Put(%q, %d bytes): %v", key, len(data), err)
	}
}

// get reads a range of key and fails the test on any error.
func get(t testing.TB, b backend.Backend, key string, off, n int64) []byte {
	t.Helper()
	rc, err := b.Get(context.Background(), key, off, n)
	if err != nil {
		t.Fatalf("Get(%q, %d, %d): %v", key, off, n, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Get(%q, %d, %d): read: %v", key, off, n, err)
	}
	return data
}

// equal fails the test if got differs from want, without dumping megabytes.
func equal(t testing.TB, what string, got, want []byte) {
	t.Helper()
	if bytes.Equal(got, want) {
		return
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	t.Fatalf("%s: got %d bytes, want %d; first difference at byte %d", what, len(got), len(want), i)
}

// wantErr fails the test unless errors.Is(err, target).
func wantErr(t testing.TB, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want one wrapping %v", what, err, target)
	}
}

// listKeys returns key → size for every object under prefix.
func listKeys(t testing.TB, b backend.Backend, prefix string) map[string]int64 {
	t.Helper()
	got := map[string]int64{}
	err := b.List(context.Background(), prefix, func(info backend.Info) error {
		if _, dup := got[info.Key]; dup {
			return fmt.Errorf("key %q listed twice", info.Key)
		}
		got[info.Key] = info.Size
		return nil
	})
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	return got
}

// sameKeys fails the test unless got holds exactly the keys in want.
func sameKeys(t testing.TB, what string, got map[string]int64, want []string) {
	t.Helper()
	keys := slices.Sorted(maps.Keys(got))
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(keys, want) {
		t.Fatalf("%s: got keys %q, want %q", what, keys, want)
	}
}

// absent fails the test unless key is invisible to Get, Stat and List.
func absent(t testing.TB, b backend.Backend, key string) {
	t.Helper()
	ctx := context.Background()
	rc, err := b.Get(ctx, key, 0, -1)
	if err == nil {
		rc.Close()
	}
	wantErr(t, "Get "+key, err, backend.ErrNotExist)
	_, err = b.Stat(ctx, key)
	wantErr(t, "Stat "+key, err, backend.ErrNotExist)
	if _, ok := listKeys(t, b, key)[key]; ok {
		t.Fatalf("List(%q) reports the absent key", key)
	}
}
