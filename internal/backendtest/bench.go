package backendtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/nardedup/nardedup/chunkstore/backend"
)

// benchSizes are the object sizes the benchmarks use.
var benchSizes = []struct {
	name string
	size int
}{
	{"4KiB", 4 << 10},
	{"1MiB", 1 << 20},
	{"16MiB", 16 << 20},
}

// Bench runs the backend benchmarks as sub-benchmarks of b: Put and whole
// Get per object size, a 4 KiB ranged Get from a 16 MiB object, and Stat.
// Each reports bytes per second (b.SetBytes). open must return a new, empty
// backend; Bench closes it when the sub-benchmark ends.
func Bench(b *testing.B, open func(b *testing.B) backend.Backend) {
	for _, s := range benchSizes {
		b.Run("Put/"+s.name, func(b *testing.B) { benchPut(b, openB(b, open), s.size) })
	}
	for _, s := range benchSizes {
		b.Run("Get/"+s.name, func(b *testing.B) { benchGet(b, openB(b, open), s.size) })
	}
	b.Run("GetRange/4KiB-of-16MiB", func(b *testing.B) { benchGetRange(b, openB(b, open)) })
	b.Run("Stat", func(b *testing.B) { benchStat(b, openB(b, open)) })
}

func openB(b *testing.B, open func(b *testing.B) backend.Backend) backend.Backend {
	be := open(b)
	b.Cleanup(func() {
		if err := be.Close(); err != nil {
			b.Errorf("Close: %v", err)
		}
	})
	return be
}

// benchPut overwrites a ring of 16 keys so that disk use stays bounded.
func benchPut(b *testing.B, be backend.Backend, size int) {
	ctx := context.Background()
	data := Pattern(size, 1)
	b.SetBytes(int64(size))
	i := 0
	for b.Loop() {
		key := fmt.Sprintf("bench/%02d", i%16)
		i++
		if err := be.Put(ctx, key, bytes.NewReader(data), int64(size)); err != nil {
			b.Fatal(err)
		}
	}
}

func benchGet(b *testing.B, be backend.Backend, size int) {
	put(b, be, "bench/obj", Pattern(size, 1))
	b.SetBytes(int64(size))
	for b.Loop() {
		readRange(b, be, "bench/obj", 0, -1, int64(size))
	}
}

func benchGetRange(b *testing.B, be backend.Backend) {
	const size, chunk = 16 << 20, 4 << 10
	put(b, be, "bench/big", Pattern(size, 1))
	b.SetBytes(chunk)
	off := int64(0)
	for b.Loop() {
		off = (off + 1_000_003) % (size - chunk)
		readRange(b, be, "bench/big", off, chunk, chunk)
	}
}

func benchStat(b *testing.B, be backend.Backend) {
	put(b, be, "bench/obj", Pattern(100, 1))
	for b.Loop() {
		if _, err := be.Stat(context.Background(), "bench/obj"); err != nil {
			b.Fatal(err)
		}
	}
}

// readRange reads a range and checks its length, discarding the data.
func readRange(b *testing.B, be backend.Backend, key string, off, n, want int64) {
	rc, err := be.Get(context.Background(), key, off, n)
	if err != nil {
		b.Fatal(err)
	}
	got, err := io.Copy(io.Discard, rc)
	rc.Close()
	if err != nil || got != want {
		b.Fatalf("Get(%s, %d, %d): %d bytes, %v", key, off, n, got, err)
	}
}
