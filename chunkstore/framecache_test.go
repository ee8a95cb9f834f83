package chunkstore

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

func key(i byte) frameKey { return frameKey{pack: ID{i}, offset: int64(i)} }

func frame(n int, b byte) []byte { return bytes.Repeat([]byte{b}, n) }

func TestFrameCacheLRU(t *testing.T) {
	ctx := context.Background()
	c := newFrameCache(300)
	var decodes atomic.Int32
	get := func(i byte) {
		t.Helper()
		e, err := c.get(ctx, key(i), 100, func(uint32) ([]byte, error) {
			decodes.Add(1)
			return frame(100, i), nil
		})
		if err != nil || !bytes.Equal(e.data, frame(100, i)) {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
	for _, i := range []byte{1, 2, 3, 1, 4} { // 1 used again: 2 is the oldest when 4 comes
		get(i)
	}
	if n := decodes.Load(); n != 4 {
		t.Errorf("%d decodes, want 4", n)
	}
	decodes.Store(0)
	for _, i := range []byte{1, 3, 4} {
		get(i)
	}
	if n := decodes.Load(); n != 0 {
		t.Errorf("frames 1, 3, 4 decoded again %d times", n)
	}
	get(2)
	if n := decodes.Load(); n != 1 {
		t.Errorf("evicted frame 2: %d decodes, want 1", n)
	}
	hits, misses, size := c.stats()
	if hits != 4 || misses != 5 || size > 300 {
		t.Errorf("hits %d misses %d size %d; want 4, 5, <= 300", hits, misses, size)
	}
}

func TestFrameCacheSharesDecoding(t *testing.T) {
	ctx := context.Background()
	c := newFrameCache(1 << 20)
	release := make(chan struct{})
	var decodes atomic.Int32
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e, err := c.get(ctx, key(1), 10, func(uint32) ([]byte, error) {
				decodes.Add(1)
				<-release
				return frame(10, 1), nil
			})
			if err != nil || len(e.data) != 10 {
				t.Error(err)
			}
		}()
	}
	for {
		c.mu.Lock()
		_, busy := c.m[key(1)]
		c.mu.Unlock()
		if busy {
			break
		}
	}
	close(release)
	wg.Wait()
	if n := decodes.Load(); n != 1 {
		t.Errorf("%d decodes of one frame wanted by 4 readers at once", n)
	}
}

func TestFrameCacheHeadAndErrors(t *testing.T) {
	ctx := context.Background()
	c := newFrameCache(1 << 20)
	boom := errors.New("boom")
	if _, err := c.get(ctx, key(1), 10, func(uint32) ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("got %v, want %v", err, boom)
	}
	// The failure is not kept.
	decoded := 0
	dec := func(n int) func(uint32) ([]byte, error) {
		return func(uint32) ([]byte, error) { decoded++; return frame(n, 1), nil }
	}
	if e, err := c.get(ctx, key(1), 10, dec(10)); err != nil || len(e.data) != 10 || decoded != 1 {
		t.Fatalf("after a failure: %v, %d decodes", err, decoded)
	}
	// A head too short for a later reader is decoded again, longer.
	if e, err := c.get(ctx, key(1), 20, dec(20)); err != nil || len(e.data) != 20 || decoded != 2 {
		t.Fatalf("longer head: %v, %d decodes", err, decoded)
	}
	if e, err := c.get(ctx, key(1), 15, dec(15)); err != nil || len(e.data) != 20 || decoded != 2 {
		t.Fatalf("shorter head: %v, %d decodes", err, decoded)
	}
	if _, _, size := c.stats(); size != 20 {
		t.Errorf("holds %d bytes, want 20 (the short head is gone)", size)
	}
}

// A reader walking through a large frame asks for a little more each
// time; each new head is at least twice the last, so the decodes stay a
// bounded multiple of the frame, not its square.
func TestFrameCacheHeadsGrowGeometrically(t *testing.T) {
	ctx := context.Background()
	const size = 1 << 20
	c := newFrameCache(4 << 20)
	var decodes, decoded int
	for need := uint32(1 << 10); need <= size; need += 1 << 10 {
		e, err := c.get(ctx, key(1), need, func(head uint32) ([]byte, error) {
			if head < need {
				t.Fatalf("asked to decode %d bytes, %d needed", head, need)
			}
			head = min(head, size)
			decodes++
			decoded += int(head)
			return frame(int(head), 1), nil
		})
		if err != nil || len(e.data) < int(need) {
			t.Fatalf("need %d: %v", need, err)
		}
	}
	if decodes > 11 || decoded > 3*size {
		t.Errorf("%d decodes of %d bytes in all for a %d-byte frame read in 1 KiB steps; want at most 11 and %d", decodes, decoded, size, 3*size)
	}
}

func TestCachedFrameSliceChecks(t *testing.T) {
	ctx := context.Background()
	c := newFrameCache(1 << 20)
	good := []byte("the chunk's bytes")
	data := append(append([]byte("head "), good...), " tail"...)
	e, err := c.get(ctx, key(1), uint32(len(data)), func(uint32) ([]byte, error) { return data, nil })
	if err != nil {
		t.Fatal(err)
	}
	loc := Location{Offset: 5, Length: uint32(len(good))}
	ref := Ref{ID: Sum(good), Size: uint32(len(good))}
	for range 2 { // the second time from the checked set
		got, err := e.slice(loc, ref)
		if err != nil || !bytes.Equal(got, good) {
			t.Fatalf("slice: %q, %v", got, err)
		}
	}
	// Another id for the same bytes is checked, not taken from the set.
	if _, err := e.slice(loc, Ref{ID: Sum([]byte("other")), Size: ref.Size}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("wrong id: %v, want ErrCorrupt", err)
	}
	c.drop(e)
	if _, _, size := c.stats(); size != 0 {
		t.Errorf("dropped frame still held: %d bytes", size)
	}
}
