package gnudeflate

import "io"

// bitWriter packs bits least significant first, as deflate wants, and
// passes full buffers on to w. Its first error sticks.
type bitWriter struct {
	w   io.Writer
	err error
	acc uint64
	n   uint // bits in acc
	buf [16 << 10]byte
	len int
}

func (o *bitWriter) reset(w io.Writer) {
	o.w, o.err, o.acc, o.n, o.len = w, nil, 0, 0, 0
}

// bits appends the n low bits of v.
func (o *bitWriter) bits(v, n int) {
	o.acc |= uint64(v) << o.n
	o.n += uint(n)
	if o.n >= 32 {
		if o.len+4 > len(o.buf) {
			o.flushBuf()
		}
		o.buf[o.len] = byte(o.acc)
		o.buf[o.len+1] = byte(o.acc >> 8)
		o.buf[o.len+2] = byte(o.acc >> 16)
		o.buf[o.len+3] = byte(o.acc >> 24)
		o.len += 4
		o.acc >>= 32
		o.n -= 32
	}
}

// align pads with zero bits to a byte boundary and moves the whole bytes
// to the buffer.
func (o *bitWriter) align() {
	for o.n > 0 {
		if o.len == len(o.buf) {
			o.flushBuf()
		}
		o.buf[o.len] = byte(o.acc)
		o.len++
		o.acc >>= 8
		o.n -= min(o.n, 8)
	}
	o.acc = 0
}

// bytes appends p; the writer must be byte-aligned.
func (o *bitWriter) bytes(p []byte) {
	for len(p) > 0 {
		if o.len == len(o.buf) {
			o.flushBuf()
		}
		n := copy(o.buf[o.len:], p)
		o.len += n
		p = p[n:]
	}
}

func (o *bitWriter) flushBuf() {
	if o.err == nil && o.len > 0 {
		_, o.err = o.w.Write(o.buf[:o.len])
	}
	o.len = 0
}

// flush writes out everything buffered; the writer must be byte-aligned.
func (o *bitWriter) flush() {
	o.flushBuf()
}
