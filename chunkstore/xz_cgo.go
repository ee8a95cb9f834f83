//go:build cgo

package chunkstore

/*
#cgo LDFLAGS: -llzma
#include <lzma.h>
#include <stdint.h>

// nd_xz_encode compresses in as one xz stream holding one LZMA2 block, at
// preset with a dictionary of dict bytes, after the x86 BCJ filter if x86,
// and without a check (readers check every chunk's BLAKE3). in and out are
// Go memory, referred to during the call only.
static int nd_xz_encode(uint32_t preset, uint32_t dict, int x86,
		const uint8_t *in, size_t in_len, uint8_t *out, size_t *out_pos, size_t out_size) {
	lzma_options_lzma opt;
	if (lzma_lzma_preset(&opt, preset)) {
		return LZMA_OPTIONS_ERROR;
	}
	opt.dict_size = dict;
	lzma_filter filters[3];
	int i = 0;
	if (x86) {
		filters[i].id = LZMA_FILTER_X86;
		filters[i].options = NULL;
		i++;
	}
	filters[i].id = LZMA_FILTER_LZMA2;
	filters[i].options = &opt;
	i++;
	filters[i].id = LZMA_VLI_UNKNOWN;
	filters[i].options = NULL;
	return lzma_stream_buffer_encode(filters, LZMA_CHECK_NONE, NULL, in, in_len, out, out_pos, out_size);
}

// nd_xz_decode decodes the xz stream in into out until out is full or the
// stream ends, using at most memlimit bytes. It returns liblzma's result
// (LZMA_STREAM_END: the stream ended) and how much it read and wrote.
static int nd_xz_decode(uint64_t memlimit, const uint8_t *in, size_t in_len,
		uint8_t *out, size_t out_len, size_t *consumed, size_t *produced) {
	lzma_stream s = LZMA_STREAM_INIT;
	int r = lzma_stream_decoder(&s, memlimit, 0);
	if (r != LZMA_OK) {
		return r;
	}
	s.next_in = in;
	s.avail_in = in_len;
	s.next_out = out;
	s.avail_out = out_len;
	r = lzma_code(&s, LZMA_FINISH);
	*consumed = in_len - s.avail_in;
	*produced = out_len - s.avail_out;
	lzma_end(&s);
	return r;
}
*/
import "C"

import (
	"context"
	"fmt"
	"unsafe"
)

// HasLibxz reports whether this program encodes xz frames (liblzma, linked
// in with cgo). Every build decodes them.
const HasLibxz = true

// Results of liblzma (lzma/base.h).
const (
	lzmaOK        = 0
	lzmaStreamEnd = 1
)

// xzEncoder compresses frames with liblzma; it holds no state between
// frames, so it is safe for concurrent use.
type xzEncoder struct {
	preset uint32
	x86    bool
}

// newXZEncoder returns an encoder of xz frames at preset (0-9, with
// xzExtreme for the "e" presets), with the x86 BCJ filter if x86.
func newXZEncoder(preset uint32, x86 bool) (frameEncoder, error) {
	return xzEncoder{preset, x86}, nil
}

func (e xzEncoder) encode(dst, src []byte) ([]byte, error) {
	bound := int(C.lzma_stream_buffer_bound(C.size_t(len(src))))
	dst = reserve(dst, bound)
	out := dst[len(dst):cap(dst)]
	var in *C.uint8_t
	if len(src) > 0 {
		in = (*C.uint8_t)(unsafe.Pointer(&src[0]))
	}
	x86 := C.int(0)
	if e.x86 {
		x86 = 1
	}
	var n C.size_t
	// Go memory passed to C holds no Go pointers: allowed by the cgo rules.
	r := C.nd_xz_encode(C.uint32_t(e.preset), C.uint32_t(xzDictSize(len(src))), x86,
		in, C.size_t(len(src)), (*C.uint8_t)(unsafe.Pointer(&out[0])), &n, C.size_t(len(out)))
	if r != lzmaOK {
		return dst, fmt.Errorf("chunkstore: liblzma: compress %d bytes: error %d", len(src), int(r))
	}
	return dst[:len(dst)+int(n)], nil
}

func (xzEncoder) close() {}

// decodeXZ decodes the xz frame comp into dst, which has room for the
// bytes wanted: the whole frame (all), which must then end there, or its
// head.
func decodeXZ(_ context.Context, comp, dst []byte, all bool) error {
	if len(comp) == 0 || len(dst) == 0 {
		return fmt.Errorf("xz: empty frame or output")
	}
	var consumed, produced C.size_t
	r := C.nd_xz_decode(C.uint64_t(xzMemLimit),
		(*C.uint8_t)(unsafe.Pointer(&comp[0])), C.size_t(len(comp)),
		(*C.uint8_t)(unsafe.Pointer(&dst[0])), C.size_t(len(dst)), &consumed, &produced)
	switch {
	case r != lzmaOK && r != lzmaStreamEnd:
		return fmt.Errorf("xz: liblzma error %d", int(r))
	case int(produced) != len(dst):
		return fmt.Errorf("xz: %d bytes, want %d", int(produced), len(dst))
	case all && (r != lzmaStreamEnd || int(consumed) != len(comp)):
		return fmt.Errorf("xz: frame does not end after %d bytes", len(dst))
	}
	return nil
}
