//go:build cgo && linux

package decompress

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>

// lzma_stream of liblzma's stable ABI (lzma/base.h, liblzma.so.5).
typedef struct {
	const uint8_t *next_in;
	size_t avail_in;
	uint64_t total_in;
	uint8_t *next_out;
	size_t avail_out;
	uint64_t total_out;
	const void *allocator;
	void *internal;
	void *reserved_ptr1, *reserved_ptr2, *reserved_ptr3, *reserved_ptr4;
	uint64_t reserved_int1, reserved_int2;
	size_t reserved_int3, reserved_int4;
	int reserved_enum1, reserved_enum2;
} nd_lzma_stream;

typedef int (*nd_stream_decoder_fn)(nd_lzma_stream *, uint64_t, uint32_t);
typedef int (*nd_code_fn)(nd_lzma_stream *, int);
typedef void (*nd_end_fn)(nd_lzma_stream *);

static nd_stream_decoder_fn nd_stream_decoder;
static nd_code_fn nd_code;
static nd_end_fn nd_end;

// nd_lzma_open loads liblzma; it returns 0 on success.
static int nd_lzma_open(void) {
	void *h = dlopen("liblzma.so.5", RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		return -1;
	}
	nd_stream_decoder = (nd_stream_decoder_fn)dlsym(h, "lzma_stream_decoder");
	nd_code = (nd_code_fn)dlsym(h, "lzma_code");
	nd_end = (nd_end_fn)dlsym(h, "lzma_end");
	if (nd_stream_decoder == NULL || nd_code == NULL || nd_end == NULL) {
		return -2;
	}
	return 0;
}

static nd_lzma_stream *nd_decoder_new(uint64_t memlimit, uint32_t flags, int *ret) {
	nd_lzma_stream *s = calloc(1, sizeof(nd_lzma_stream));
	if (s == NULL) {
		*ret = 5; // LZMA_MEM_ERROR
		return NULL;
	}
	*ret = nd_stream_decoder(s, memlimit, flags);
	if (*ret != 0) {
		nd_end(s);
		free(s);
		return NULL;
	}
	return s;
}

// nd_decoder_reset starts a new stream on s, a decoder used before:
// liblzma keeps its allocations (the dictionary among them) when the
// options allow. On failure s is freed.
static int nd_decoder_reset(nd_lzma_stream *s, uint64_t memlimit, uint32_t flags) {
	int ret = nd_stream_decoder(s, memlimit, flags);
	if (ret != 0) {
		nd_end(s);
		free(s);
	}
	return ret;
}

// nd_decode runs lzma_code over in and out, which are Go memory: they are
// only referred to during the call.
static int nd_decode(nd_lzma_stream *s, const uint8_t *in, size_t in_len, uint8_t *out, size_t out_len,
		int action, size_t *consumed, size_t *produced) {
	s->next_in = in;
	s->avail_in = in_len;
	s->next_out = out;
	s->avail_out = out_len;
	int ret = nd_code(s, action);
	*consumed = in_len - s->avail_in;
	*produced = out_len - s->avail_out;
	s->next_in = NULL;
	s->next_out = NULL;
	s->avail_in = 0;
	s->avail_out = 0;
	return ret;
}

static void nd_decoder_free(nd_lzma_stream *s) {
	nd_end(s);
	free(s);
}
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"io"

	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/nardedup/nardedup/internal/bufpipe"
)

// liblzma is loaded once, at the first use.
var liblzma = sync.OnceValue(func() error {
	if r := C.nd_lzma_open(); r != 0 {
		return errors.New("liblzma.so.5 not found")
	}
	return nil
})

// libXZAvailable reports whether liblzma.so.5 can be loaded.
func libXZAvailable() bool { return liblzma() == nil }

// Flags and return values of liblzma (lzma/container.h, lzma/base.h).
const (
	lzmaTellUnsupportedCheck = 0x02
	lzmaConcatenated         = 0x08
	lzmaRun                  = 0
	lzmaFinish               = 3
	lzmaOK                   = 0
	lzmaStreamEnd            = 1
)

var lzmaErrors = map[C.int]string{
	3: "unsupported integrity check", 5: "out of memory", 6: "memory limit reached",
	7: "not in the xz format", 8: "unsupported options", 9: "compressed data is corrupt",
	10: "unexpected end of input", 11: "internal error",
}

// lzmaErr is an error returned by liblzma.
type lzmaErr C.int

func (e lzmaErr) Error() string {
	if msg, ok := lzmaErrors[C.int(e)]; ok {
		return "decompress: xz: " + msg
	}
	return fmt.Sprintf("decompress: xz: liblzma error %d", int(e))
}

func lzmaError(r C.int) error { return lzmaErr(r) }

// libXZReader decodes xz with liblzma in this process: no pipe to copy the
// output through, no process to switch to. It is not safe for concurrent
// use.
type libXZReader struct {
	in  io.Reader
	buf []byte // input, buf[off:] not yet decoded
	off int
	eof bool // in is at its end
	s   *C.nd_lzma_stream
	err error
}

// startLibXZ decodes r with liblzma on a goroutine of its own, a few
// blocks ahead of the reader, as the xz program would in its own process.
// The goroutine owns the decoder and frees it when it stops: after the end
// of the stream, an error, or Close.
func startLibXZ(ctx context.Context, r io.Reader) (io.ReadCloser, error) {
	if err := liblzma(); err != nil {
		return nil, fmt.Errorf("decompress: xz: %w", err)
	}
	s, err := newDecoder()
	if err != nil {
		return nil, err
	}
	x := &libXZReader{in: ctxReader{ctx, r}, buf: make([]byte, 0, 128<<10), s: s}
	p := bufpipe.New()
	go func() {
		defer x.free()
		_, err := p.ReadFrom(x) // decodes into the pipe's blocks
		p.CloseWrite(err)       // nil at the end: the reader gets io.EOF
	}()
	return &libXZStream{p: p}, nil
}

// libXZStream is the reading end of a liblzma decoding.
type libXZStream struct {
	p      *bufpipe.Pipe
	closed bool
}

func (l *libXZStream) Read(b []byte) (int, error) {
	if l.closed {
		return 0, errClosed
	}
	return l.p.Read(b)
}

// Close stops the decoding; it does not wait for a read of the input in
// progress, which ends with the context.
func (l *libXZStream) Close() error {
	if !l.closed {
		l.closed = true
		l.p.CloseRead(errClosed)
	}
	return nil
}

func (x *libXZReader) Read(p []byte) (int, error) {
	if x.err != nil {
		return 0, x.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if x.off == len(x.buf) && !x.eof {
			n, err := x.in.Read(x.buf[:cap(x.buf)])
			x.buf, x.off = x.buf[:n], 0
			if errors.Is(err, io.EOF) {
				x.eof = true
			} else if err != nil {
				x.err = fmt.Errorf("decompress: xz: reading input: %w", err)
				return 0, x.err
			}
		}
		action := C.int(lzmaRun)
		if x.eof {
			action = lzmaFinish
		}
		var consumed, produced C.size_t
		var in *C.uint8_t
		if x.off < len(x.buf) {
			in = (*C.uint8_t)(unsafe.Pointer(&x.buf[x.off]))
		}
		r := C.nd_decode(x.s, in, C.size_t(len(x.buf)-x.off), (*C.uint8_t)(unsafe.Pointer(&p[0])), C.size_t(len(p)),
			action, &consumed, &produced)
		x.off += int(consumed)
		switch {
		case r == lzmaStreamEnd:
			x.err = io.EOF
			if produced > 0 {
				return int(produced), nil
			}
			return 0, io.EOF
		case r != lzmaOK:
			x.err = lzmaError(r)
			return int(produced), x.err
		case produced > 0:
			return int(produced), nil
		case x.eof && consumed == 0:
			// Finishing with no input left and no progress: cut short.
			x.err = lzmaError(10)
			return 0, x.err
		}
	}
}

// free frees the decoder, or keeps it for the next stream unless liblzma
// failed on this one; the reader is not used again.
func (x *libXZReader) free() {
	var lerr lzmaErr
	if errors.As(x.err, &lerr) {
		C.nd_decoder_free(x.s)
	} else {
		select {
		case idleDecoders <- x.s:
		default:
			C.nd_decoder_free(x.s)
		}
	}
	x.s = nil
}

// idleDecoders keeps a few decoders of finished streams: a new stream on
// one reuses its dictionary and tables instead of allocating them, and
// touching every page of them anew.
var idleDecoders = make(chan *C.nd_lzma_stream, 4)

// decodersMade counts the decoders allocated, for tests.
var decodersMade atomic.Int64

// newDecoder returns a decoder ready for a new stream, an idle one if
// there is.
func newDecoder() (*C.nd_lzma_stream, error) {
	const flags = lzmaConcatenated | lzmaTellUnsupportedCheck
	select {
	case s := <-idleDecoders:
		if C.nd_decoder_reset(s, C.uint64_t(xzMemLimitBytes), flags) == 0 {
			return s, nil
		} // else s is freed: make a new one
	default:
	}
	var ret C.int
	s := C.nd_decoder_new(C.uint64_t(xzMemLimitBytes), flags, &ret)
	if s == nil {
		return nil, lzmaError(ret)
	}
	decodersMade.Add(1)
	return s, nil
}
