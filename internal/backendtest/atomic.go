package backendtest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/nardedup/nardedup/chunkstore/backend"
)

// gatedPut runs Put of data under key in a goroutine, pausing the reader
// halfway; it returns once the Put is paused, with a function that resumes
// it and waits for its result.
func gatedPut(b backend.Backend, key string, data []byte) (finish func() error) {
	g := &gatedReader{data: data, mid: make(chan struct{}), resume: make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- b.Put(context.Background(), key, g, int64(len(data))) }()
	mid := g.mid
	select {
	case <-mid:
	case err := <-done: // Put returned without reading half: report it
		return func() error { return fmt.Errorf("put returned early: %v", err) }
	}
	return func() error {
		close(g.resume)
		return <-done
	}
}

func testAtomicUnderReaders(t *testing.T, b backend.Backend) {
	const key = "atomic/obj"
	v1, v2 := Pattern(2<<20, 1), Pattern(3<<20+11, 2)
	var stop, firstDone atomic.Bool
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				absentOK := !firstDone.Load()
				if err := observe(b, key, absentOK, v1, v2); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	defer func() { stop.Store(true); wg.Wait() }()

	finish := gatedPut(b, key, v1)
	if err := observe(b, key, true); err != nil {
		t.Errorf("during first Put: %v", err)
	}
	if err := finish(); err != nil {
		t.Fatalf("first Put: %v", err)
	}
	firstDone.Store(true)
	if err := observe(b, key, false, v1); err != nil {
		t.Fatalf("after first Put: %v", err)
	}
	finish = gatedPut(b, key, v2)
	if err := observe(b, key, false, v1); err != nil {
		t.Errorf("during overwrite: %v", err)
	}
	if err := finish(); err != nil {
		t.Fatalf("overwriting Put: %v", err)
	}
	if err := observe(b, key, false, v2); err != nil {
		t.Fatalf("after overwrite: %v", err)
	}
	if size := listKeys(t, b, "atomic/")[key]; size != int64(len(v2)) {
		t.Fatalf("List size %d, want %d", size, len(v2))
	}
}

func testConcurrentPuts(t *testing.T, b backend.Backend) {
	const writers, perWriter = 8, 25
	ctx := context.Background()
	key := func(w, i int) string { return fmt.Sprintf("conc/%d/%d-%d", i%4, w, i) }
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				err := backend.PutBytes(ctx, b, key(w, i), Pattern(100+i, byte(w)))
				if err != nil {
					t.Errorf("Put: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	got := listKeys(t, b, "conc/")
	if len(got) != writers*perWriter {
		t.Fatalf("List found %d objects, want %d", len(got), writers*perWriter)
	}
	for w := range writers {
		for i := range perWriter {
			equal(t, key(w, i), get(t, b, key(w, i), 0, -1), Pattern(100+i, byte(w)))
		}
	}
}

func testConcurrentSameKey(t *testing.T, b backend.Backend) {
	const key = "same/obj"
	data := Pattern(256<<10, 9)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 5 {
				if err := backend.PutBytes(context.Background(), b, key, data); err != nil {
					t.Errorf("Put: %v", err)
					return
				}
				if err := observe(b, key, false, data); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	equal(t, "Get", get(t, b, key, 0, -1), data)
	sameKeys(t, "List", listKeys(t, b, ""), []string{key})
}
