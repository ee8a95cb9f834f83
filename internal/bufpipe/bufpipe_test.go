package bufpipe

import (
	"bytes"
	"errors"
	"io"
	"math/rand"
	"runtime"
	"testing"
	"testing/iotest"
)

func TestBufPipe(t *testing.T) {
	data := make([]byte, 3*BlockSize+12345)
	rand.New(rand.NewSource(1)).Read(data)
	for _, piece := range []int{1, 100, BlockSize - 1, BlockSize, 2*BlockSize + 7} {
		p := New()
		go func() {
			for b := data; len(b) > 0; {
				n := min(piece, len(b))
				if _, err := p.Write(b[:n]); err != nil {
					t.Error(err)
					return
				}
				b = b[n:]
			}
			p.CloseWrite(nil)
		}()
		got, err := io.ReadAll(p)
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("pieces of %d: read %d bytes, %v", piece, len(got), err)
		}
	}
}

func TestBufPipeErrors(t *testing.T) {
	// The writer's error reaches the reader after the data.
	p := New()
	boom := errors.New("boom")
	go func() {
		p.Write([]byte("abc"))
		p.CloseWrite(boom)
	}()
	got, err := io.ReadAll(p)
	if string(got) != "abc" || !errors.Is(err, boom) {
		t.Errorf("read %q, %v; want abc, %v", got, err, boom)
	}

	// A reader that stops releases a blocked writer with its error.
	p = New()
	stop := errors.New("stop")
	werr := make(chan error, 1)
	go func() {
		_, err := p.Write(make([]byte, (Depth+2)*BlockSize))
		werr <- err
	}()
	buf := make([]byte, 10)
	if _, err := p.Read(buf); err != nil {
		t.Fatal(err)
	}
	p.CloseRead(stop)
	if err := <-werr; !errors.Is(err, stop) {
		t.Errorf("blocked Write returned %v, want %v", err, stop)
	}
	if _, err := p.Write([]byte("x")); !errors.Is(err, stop) {
		t.Errorf("Write after the reader stopped returned %v, want %v", err, stop)
	}
}

// TestReadFrom: io.Copy into a pipe reads straight into its blocks, whole
// or in small reads, and an error of the source reaches the reader.
func TestReadFrom(t *testing.T) {
	data := make([]byte, 2*BlockSize+999)
	rand.New(rand.NewSource(2)).Read(data)
	for _, src := range []io.Reader{bytes.NewReader(data), iotest.HalfReader(bytes.NewReader(data)), iotest.OneByteReader(bytes.NewReader(data[:5000]))} {
		p := New()
		go func() {
			_, err := io.Copy(p, src)
			p.CloseWrite(err)
		}()
		got, err := io.ReadAll(p)
		if err != nil || !bytes.Equal(got, data[:len(got)]) || (len(got) != len(data) && len(got) != 5000) {
			t.Errorf("read %d bytes, %v", len(got), err)
		}
	}
	boom := errors.New("boom")
	p := New()
	go func() {
		_, err := p.ReadFrom(io.MultiReader(bytes.NewReader(data[:100]), iotest.ErrReader(boom)))
		p.CloseWrite(err)
	}()
	if got, err := io.ReadAll(p); len(got) != 100 || !errors.Is(err, boom) {
		t.Errorf("read %d bytes, %v; want 100, %v", len(got), err, boom)
	}
}

// errWriter takes n bytes, then fails.
type errWriter struct {
	n   int
	err error
}

func (w *errWriter) Write(b []byte) (int, error) {
	if len(b) > w.n {
		n := w.n
		w.n = 0
		return n, w.err
	}
	w.n -= len(b)
	return len(b), nil
}

func TestWriteTo(t *testing.T) {
	data := make([]byte, 3*BlockSize+12345)
	rand.New(rand.NewSource(1)).Read(data)
	boom := errors.New("boom")
	for _, werr := range []error{nil, boom} {
		p := New()
		go func() {
			p.Write(data)
			p.CloseWrite(werr)
		}()
		// Part of the first block read, the rest written on.
		head := make([]byte, 100)
		if _, err := io.ReadFull(p, head); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		n, err := p.WriteTo(&out)
		if got := append(head, out.Bytes()...); !bytes.Equal(got, data) || n != int64(out.Len()) || !errors.Is(err, werr) {
			t.Errorf("writer's error %v: read 100 bytes, wrote %d (%d said), %v; want %d, %v",
				werr, out.Len(), n, err, len(data)-100, werr)
		}
	}

	// w's error stops WriteTo, and the writer gets the reader's error once
	// the reader closes.
	p := New()
	werr := make(chan error, 1)
	go func() {
		_, err := p.Write(make([]byte, (Depth+3)*BlockSize))
		werr <- err
	}()
	n, err := p.WriteTo(&errWriter{n: BlockSize + 5, err: boom})
	if n != BlockSize+5 || !errors.Is(err, boom) {
		t.Errorf("WriteTo into a failing writer: %d, %v; want %d, %v", n, err, BlockSize+5, boom)
	}
	stop := errors.New("stop")
	p.CloseRead(stop)
	if err := <-werr; !errors.Is(err, stop) {
		t.Errorf("writer got %v, want %v", err, stop)
	}
}

// TestBlocksReused checks that a pipe read to its end leaves its block to
// the next pipe: a short stream then allocates far less than a block.
func TestBlocksReused(t *testing.T) {
	data := make([]byte, 1<<10)
	stream := func() {
		p := New()
		if _, err := p.Write(data); err != nil {
			t.Fatal(err)
		}
		p.CloseWrite(nil)
		got, err := io.ReadAll(p)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read %d bytes, %v; want the %d written", len(got), err, len(data))
		}
	}
	stream()
	const n = 100
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; i < n; i++ {
		stream()
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / n; per > BlockSize/2 {
		t.Errorf("a pipe of %d bytes allocated %d bytes, more than half a block", len(data), per)
	}
}
