// Package bufpipe is a pipe whose two ends run apart: the writer goes on
// while the reader works, up to a few blocks ahead.
package bufpipe

import (
	"errors"
	"io"
	"sync"
)

// Pipe is an in-memory pipe for one writing and one reading goroutine.
// Write copies into blocks of BlockSize bytes and hands each full block
// over, blocking only when Depth blocks wait unread. io.Pipe hands every
// Write over directly, so a stream written in small pieces costs a
// goroutine switch per piece, and neither end can work while the other
// does.
type Pipe struct {
	blocks chan []byte   // full blocks, to the reader
	free   chan []byte   // read blocks, back to the writer
	done   chan struct{} // closed by closeRead
	once   sync.Once

	cur []byte // the writer's block being filled

	rerr   error  // why the reader stopped; set before done is closed
	werr   error  // why the writer stopped (nil: io.EOF); set before blocks is closed
	rd     []byte // the rest of the reader's current block
	rblock []byte // the reader's current block, whole
}

// BlockSize and Depth bound what a Pipe holds: Depth full blocks and the
// one being filled.
const (
	BlockSize = 256 << 10
	Depth     = 4
)

// New returns an empty pipe.
func New() *Pipe {
	return &Pipe{
		blocks: make(chan []byte, Depth),
		free:   make(chan []byte, Depth+1),
		done:   make(chan struct{}),
	}
}

// Write copies b into the pipe. Once the reader has stopped it returns the
// reader's error.
func (p *Pipe) Write(b []byte) (int, error) {
	select {
	case <-p.done:
		return 0, p.rerr
	default:
	}
	n := 0
	for len(b) > 0 {
		c := copy(p.room(), b)
		b, n = b[c:], n+c
		if err := p.filled(c); err != nil {
			return n, err
		}
	}
	return n, nil
}

// ReadFrom reads r into the pipe's blocks directly, without copying, until
// r returns io.EOF (ReadFrom then returns nil) or an error, or the reader
// stops (ReadFrom returns the reader's error). io.Copy into a Pipe uses it.
// It does not close the pipe.
func (p *Pipe) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	for {
		select {
		case <-p.done:
			return total, p.rerr
		default:
		}
		n, err := r.Read(p.room())
		total += int64(n)
		if serr := p.filled(n); serr != nil {
			return total, serr
		}
		if errors.Is(err, io.EOF) {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// blocks holds the blocks of pipes read to their end, for the next
// pipes: a stream of a few bytes, such as a small NAR's, would otherwise
// allocate and zero a whole block of its own.
var blocks sync.Pool // *[BlockSize]byte

// newBlock returns an empty block, reused if one is free.
func newBlock() []byte {
	if b, _ := blocks.Get().(*[BlockSize]byte); b != nil {
		return b[:0]
	}
	return make([]byte, 0, BlockSize)
}

// recycle hands the blocks the writer left for reuse to other pipes once
// the stream has ended: the writer takes none after CloseWrite.
func (p *Pipe) recycle() {
	for {
		select {
		case b := <-p.free:
			blocks.Put((*[BlockSize]byte)(b[:BlockSize]))
		default:
			return
		}
	}
}

// room returns the free end of the block being filled, taking a block
// first if there is none.
func (p *Pipe) room() []byte {
	if p.cur == nil {
		select {
		case p.cur = <-p.free:
			p.cur = p.cur[:0]
		default:
			p.cur = newBlock()
		}
	}
	return p.cur[len(p.cur):cap(p.cur)]
}

// filled records that n bytes of room were written and hands the block
// over once it is full.
func (p *Pipe) filled(n int) error {
	p.cur = p.cur[:len(p.cur)+n]
	if len(p.cur) < cap(p.cur) {
		return nil
	}
	return p.send()
}

func (p *Pipe) send() error {
	select {
	case <-p.done:
		return p.rerr
	default:
	}
	select {
	case p.blocks <- p.cur:
		p.cur = nil
		return nil
	case <-p.done:
		return p.rerr
	}
}

// CloseWrite hands over what was written and ends the stream: the reader
// gets err after the data, or io.EOF if err is nil.
func (p *Pipe) CloseWrite(err error) error {
	var serr error
	if len(p.cur) > 0 {
		serr = p.send()
	}
	p.werr = err
	close(p.blocks)
	return serr
}

// Read reads what the writer wrote.
func (p *Pipe) Read(b []byte) (int, error) {
	if err := p.fetch(); err != nil {
		return 0, err
	}
	n := copy(b, p.rd)
	p.rd = p.rd[n:]
	return n, nil
}

// fetch waits for a block to read unless the current one has bytes left,
// and gives the one read back to the writer. At the end of the stream it
// returns the writer's error, or io.EOF.
func (p *Pipe) fetch() error {
	for len(p.rd) == 0 {
		if p.rblock != nil {
			select {
			case p.free <- p.rblock:
			default:
			}
			p.rblock = nil
		}
		blk, ok := <-p.blocks
		if !ok {
			p.recycle()
			if p.werr != nil {
				return p.werr
			}
			return io.EOF
		}
		p.rd, p.rblock = blk, blk
	}
	return nil
}

// WriteTo writes what the writer writes to w, from the pipe's blocks
// directly, without copying, until the writer's end: it returns nil if
// the writer closed with a nil error, else the writer's error or w's. It
// is Read's alternative for the reading goroutine; io.Copy from a Pipe
// uses it.
func (p *Pipe) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if err := p.fetch(); errors.Is(err, io.EOF) {
			return total, nil
		} else if err != nil {
			return total, err
		}
		n, err := w.Write(p.rd)
		total += int64(n)
		p.rd = p.rd[n:]
		if err != nil {
			return total, err
		}
	}
}

// CloseRead stops the reader: Writes from now on return err.
func (p *Pipe) CloseRead(err error) {
	p.once.Do(func() {
		p.rerr = err
		close(p.done)
	})
}
