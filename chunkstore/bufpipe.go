package chunkstore

import (
	"io"
	"sync"
)

// bufPipe is a pipe whose ends run apart: Write copies into blocks of
// pipeBlock bytes and hands each full block over, blocking only when
// pipeDepth blocks wait unread. io.Pipe hands every Write over directly,
// so a stream written in small pieces (pathstrip's output between two
// store paths) costs a goroutine switch per piece, and neither end can
// work while the other does.
type bufPipe struct {
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

const (
	pipeBlock = 256 << 10
	pipeDepth = 4
)

func newBufPipe() *bufPipe {
	return &bufPipe{
		blocks: make(chan []byte, pipeDepth),
		free:   make(chan []byte, pipeDepth+1),
		done:   make(chan struct{}),
	}
}

// Write copies p into the pipe. Once the reader has stopped it returns the
// reader's error.
func (p *bufPipe) Write(b []byte) (int, error) {
	select {
	case <-p.done:
		return 0, p.rerr
	default:
	}
	n := 0
	for len(b) > 0 {
		if p.cur == nil {
			select {
			case p.cur = <-p.free:
				p.cur = p.cur[:0]
			default:
				p.cur = make([]byte, 0, pipeBlock)
			}
		}
		c := copy(p.cur[len(p.cur):cap(p.cur)], b)
		p.cur, b, n = p.cur[:len(p.cur)+c], b[c:], n+c
		if len(p.cur) == cap(p.cur) {
			if err := p.send(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

func (p *bufPipe) send() error {
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

// closeWrite hands over what was written and ends the stream: the reader
// gets err after the data, or io.EOF if err is nil.
func (p *bufPipe) closeWrite(err error) error {
	var serr error
	if len(p.cur) > 0 {
		serr = p.send()
	}
	p.werr = err
	close(p.blocks)
	return serr
}

// Read reads what the writer wrote.
func (p *bufPipe) Read(b []byte) (int, error) {
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
			if p.werr != nil {
				return 0, p.werr
			}
			return 0, io.EOF
		}
		p.rd, p.rblock = blk, blk
	}
	n := copy(b, p.rd)
	p.rd = p.rd[n:]
	return n, nil
}

// closeRead stops the reader: Writes from now on return err.
func (p *bufPipe) closeRead(err error) {
	p.once.Do(func() {
		p.rerr = err
		close(p.done)
	})
}
