package chunkstore

import (
	"bytes"
	"errors"
	"io"
	"math/rand"
	"testing"
)

func TestBufPipe(t *testing.T) {
	data := make([]byte, 3*pipeBlock+12345)
	rand.New(rand.NewSource(1)).Read(data)
	for _, piece := range []int{1, 100, pipeBlock - 1, pipeBlock, 2*pipeBlock + 7} {
		p := newBufPipe()
		go func() {
			for b := data; len(b) > 0; {
				n := min(piece, len(b))
				if _, err := p.Write(b[:n]); err != nil {
					t.Error(err)
					return
				}
				b = b[n:]
			}
			p.closeWrite(nil)
		}()
		got, err := io.ReadAll(p)
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("pieces of %d: read %d bytes, %v", piece, len(got), err)
		}
	}
}

func TestBufPipeErrors(t *testing.T) {
	// The writer's error reaches the reader after the data.
	p := newBufPipe()
	boom := errors.New("boom")
	go func() {
		p.Write([]byte("abc"))
		p.closeWrite(boom)
	}()
	got, err := io.ReadAll(p)
	if string(got) != "abc" || !errors.Is(err, boom) {
		t.Errorf("read %q, %v; want abc, %v", got, err, boom)
	}

	// A reader that stops releases a blocked writer with its error.
	p = newBufPipe()
	stop := errors.New("stop")
	werr := make(chan error, 1)
	go func() {
		_, err := p.Write(make([]byte, (pipeDepth+2)*pipeBlock))
		werr <- err
	}()
	buf := make([]byte, 10)
	if _, err := p.Read(buf); err != nil {
		t.Fatal(err)
	}
	p.closeRead(stop)
	if err := <-werr; !errors.Is(err, stop) {
		t.Errorf("blocked Write returned %v, want %v", err, stop)
	}
	if _, err := p.Write([]byte("x")); !errors.Is(err, stop) {
		t.Errorf("Write after the reader stopped returned %v, want %v", err, stop)
	}
}
