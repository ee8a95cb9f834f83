package chunkstore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/mem"
)

func testConfig() chunkstore.Config {
	cfg := chunkstore.DefaultConfig()
	cfg.Chunker.MinSize = 1 << 10
	cfg.Chunker.AvgBits = 12
	cfg.Chunker.MaxSize = 16 << 10
	cfg.GroupSize = 64 << 10
	cfg.PackSize = 256 << 10
	return cfg
}

// openStore opens the store on be with testConfig.
func openStore(t *testing.T, be backend.Backend, indexPath string) *chunkstore.Store {
	t.Helper()
	return openStoreWith(t, be, testConfig(), indexPath)
}

func openStoreWith(t *testing.T, be backend.Backend, cfg chunkstore.Config, indexPath string) *chunkstore.Store {
	t.Helper()
	s, err := chunkstore.Open(context.Background(), be, cfg, chunkstore.Options{IndexPath: indexPath})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func randomData(seed int64, n int) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

// write stores data as one stream and waits until it is durable.
func write(t *testing.T, s *chunkstore.Store, data []byte) ([]chunkstore.Ref, chunkstore.WriteResult) {
	t.Helper()
	ctx := context.Background()
	var refs []chunkstore.Ref
	w := s.NewWriter(ctx, func(r chunkstore.Ref) error { refs = append(refs, r); return nil })
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	res, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	if err := s.Commit(ctx, func(err error) { done <- err }, res); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return refs, res
}

func readAll(t *testing.T, s *chunkstore.Store, refs []chunkstore.Ref) ([]byte, error) {
	t.Helper()
	i := 0
	r := s.NewReader(context.Background(), func() (chunkstore.Ref, error) {
		if i == len(refs) {
			return chunkstore.Ref{}, io.EOF
		}
		i++
		return refs[i-1], nil
	})
	defer r.Close()
	return io.ReadAll(r)
}

func TestWriteReadDedup(t *testing.T) {
	be := mem.New()
	s := openStore(t, be, filepath.Join(t.TempDir(), "index.db"))
	defer s.Close()
	data := randomData(1, 1<<20)
	refs, res := write(t, s, data)
	if res.Size != int64(len(data)) || res.NewChunks != res.Chunks || res.Chunks != len(refs) {
		t.Fatalf("first write: got %+v; want every chunk new", res)
	}
	got, err := readAll(t, s, refs)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: err %v, equal %v", err, bytes.Equal(got, data))
	}
	// The same bytes again, and with a prefix: nothing or almost nothing new.
	_, res2 := write(t, s, data)
	if res2.NewChunks != 0 || res2.StoredBytes != 0 {
		t.Fatalf("second write stored %d chunks, %d bytes; want 0", res2.NewChunks, res2.StoredBytes)
	}
	_, res3 := write(t, s, append([]byte("prefix"), data...))
	if res3.NewChunks > 2 {
		t.Fatalf("shifted write stored %d new chunks; want at most 2", res3.NewChunks)
	}
}

func TestReopenUsesIndexObjects(t *testing.T) {
	be := mem.New()
	dir := t.TempDir()
	s := openStore(t, be, filepath.Join(dir, "a.db"))
	data := randomData(2, 300<<10)
	refs, _ := write(t, s, data)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// A fresh local index is rebuilt from the repository's index objects.
	s2 := openStore(t, be, filepath.Join(dir, "b.db"))
	defer s2.Close()
	got, err := readAll(t, s2, refs)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read after reopen: err %v", err)
	}
	_, res := write(t, s2, data)
	if res.NewChunks != 0 {
		t.Fatalf("after reopen: %d new chunks; want 0", res.NewChunks)
	}
}

func TestReaderSeesOtherProcessWrites(t *testing.T) {
	be := mem.New()
	dir := t.TempDir()
	writer := openStore(t, be, filepath.Join(dir, "writer.db"))
	defer writer.Close()
	reader, err := chunkstore.Open(context.Background(), be, testConfig(), chunkstore.Options{
		IndexPath: filepath.Join(dir, "reader.db"), ResyncInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	data := randomData(4, 200<<10)
	refs, _ := write(t, writer, data)
	time.Sleep(2 * time.Millisecond)
	got, err := readAll(t, reader, refs)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("reader opened before the write: err %v", err)
	}
}

func TestConcurrentWritersShareChunks(t *testing.T) {
	be := mem.New()
	s := openStore(t, be, filepath.Join(t.TempDir(), "index.db"))
	defer s.Close()
	data := randomData(3, 512<<10)
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	stored := 0
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := s.NewWriter(ctx, func(chunkstore.Ref) error { return nil })
			w.Write(data)
			res, err := w.Close()
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			stored += res.NewChunks
			mu.Unlock()
			if err := s.Commit(ctx, func(error) {}, res); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	refs, res := write(t, s, data)
	if res.NewChunks != 0 || stored != len(refs) {
		t.Fatalf("8 concurrent writers stored %d chunks; want %d, each once", stored, len(refs))
	}
}

func TestCorruptPackDetected(t *testing.T) {
	be := mem.New()
	s := openStore(t, be, filepath.Join(t.TempDir(), "index.db"))
	defer s.Close()
	data := bytes.Repeat([]byte("nardedup "), 20000)
	refs, _ := write(t, s, data)
	ctx := context.Background()
	var packs []string
	be.List(ctx, "packs/", func(fi backend.Info) error { packs = append(packs, fi.Key); return nil })
	if len(packs) != 1 {
		t.Fatalf("got %d packs; want 1", len(packs))
	}
	pack, _ := backend.ReadAll(ctx, be, packs[0])
	pack[10] ^= 0xff
	backend.PutBytes(ctx, be, packs[0], pack)
	if _, err := readAll(t, s, refs); !errors.Is(err, chunkstore.ErrCorrupt) {
		t.Fatalf("read of damaged pack: got %v; want ErrCorrupt", err)
	}
}
