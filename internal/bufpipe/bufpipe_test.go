package bufpipe

import (
	"bytes"
	"errors"
	"io"
	"math/rand"
	"testing"
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
