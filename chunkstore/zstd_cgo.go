//go:build cgo

package chunkstore

/*
#include <stddef.h>

// The subset of libzstd's stable API (zstd.h, v1.5) that the copier and
// the pack reader use.
// github.com/DataDog/zstd compiles libzstd's C source into the program; its
// Go API sets no window log and no long distance matching, so these are
// called directly. The values of the parameters are fixed by zstd.h.
typedef struct ZSTD_CCtx_s ZSTD_CCtx;
ZSTD_CCtx* ZSTD_createCCtx(void);
size_t ZSTD_freeCCtx(ZSTD_CCtx* cctx);
size_t ZSTD_CCtx_setParameter(ZSTD_CCtx* cctx, int param, int value);
size_t ZSTD_compress2(ZSTD_CCtx* cctx, void* dst, size_t dstCapacity, const void* src, size_t srcSize);
size_t ZSTD_compressBound(size_t srcSize);
unsigned ZSTD_isError(size_t code);
const char* ZSTD_getErrorName(size_t code);
unsigned ZSTD_versionNumber(void);

typedef struct ZSTD_DCtx_s ZSTD_DCtx;
ZSTD_DCtx* ZSTD_createDCtx(void);
size_t ZSTD_freeDCtx(ZSTD_DCtx* dctx);
size_t ZSTD_decompressDCtx(ZSTD_DCtx* dctx, void* dst, size_t dstCapacity, const void* src, size_t srcSize);

enum {
	nd_c_compressionLevel = 100,
	nd_c_windowLog = 101,
	nd_c_enableLongDistanceMatching = 160,
	nd_c_contentSizeFlag = 200,
	nd_c_checksumFlag = 201,
	nd_c_dictIDFlag = 202,
	nd_ps_enable = 1,
	nd_ps_disable = 2,
};
*/
import "C"

import (
	"fmt"
	"runtime"
	"sync"
	"unsafe"

	_ "github.com/DataDog/zstd" // libzstd's C source, linked into the program
)

// HasLibzstd reports whether this program was built with libzstd (cgo),
// which CopyOptions.ZstdLevel above 4 needs.
const HasLibzstd = true

// libzstdVersion is the version of the libzstd linked in, e.g. "1.5.7".
func libzstdVersion() string {
	v := uint(C.ZSTD_versionNumber())
	return fmt.Sprintf("%d.%d.%d", v/10000, v/100%100, v%100)
}

// cEncoder compresses with one libzstd compression context. It is not safe
// for concurrent use.
type cEncoder struct {
	cctx    *C.ZSTD_CCtx
	cleanup runtime.Cleanup // frees cctx if the encoder is dropped unclosed (by a sync.Pool)
}

// newLibzstdEncoder returns an encoder of one-frame outputs at libzstd
// level (1-22) with a window of 1<<windowLog bytes (at most: libzstd
// shrinks it to the input), long distance matching if ldm, the content
// size in the frame header and no checksum, as the frames ingest writes.
func newLibzstdEncoder(level, windowLog int, ldm bool) (frameEncoder, error) {
	cctx := C.ZSTD_createCCtx()
	if cctx == nil {
		return nil, fmt.Errorf("chunkstore: libzstd: cannot create a compression context")
	}
	e := &cEncoder{cctx: cctx}
	e.cleanup = runtime.AddCleanup(e, func(c *C.ZSTD_CCtx) { C.ZSTD_freeCCtx(c) }, cctx)
	mode := C.nd_ps_disable
	if ldm {
		mode = C.nd_ps_enable
	}
	params := []struct {
		name  string
		param C.int
		value int
	}{
		{"level", C.nd_c_compressionLevel, level},
		{"window log", C.nd_c_windowLog, windowLog},
		{"long distance matching", C.nd_c_enableLongDistanceMatching, mode},
		{"content size flag", C.nd_c_contentSizeFlag, 1},
		{"checksum flag", C.nd_c_checksumFlag, 0},
		{"dictionary id flag", C.nd_c_dictIDFlag, 0},
	}
	for _, p := range params {
		if r := C.ZSTD_CCtx_setParameter(cctx, p.param, C.int(p.value)); C.ZSTD_isError(r) != 0 {
			e.close()
			return nil, fmt.Errorf("chunkstore: libzstd: set %s to %d: %s", p.name, p.value, C.GoString(C.ZSTD_getErrorName(r)))
		}
	}
	return e, nil
}

func (e *cEncoder) encode(dst, src []byte) ([]byte, error) {
	bound := int(C.ZSTD_compressBound(C.size_t(len(src))))
	dst = reserve(dst, bound)
	out := dst[len(dst):cap(dst)]
	var in unsafe.Pointer
	if len(src) > 0 {
		in = unsafe.Pointer(&src[0])
	}
	// Go memory passed to C holds no Go pointers: allowed by the cgo rules.
	n := C.ZSTD_compress2(e.cctx, unsafe.Pointer(&out[0]), C.size_t(len(out)), in, C.size_t(len(src)))
	runtime.KeepAlive(e) // its cleanup must not free cctx during the call
	if C.ZSTD_isError(n) != 0 {
		return dst, fmt.Errorf("chunkstore: libzstd: compress %d bytes: %s", len(src), C.GoString(C.ZSTD_getErrorName(n)))
	}
	return dst[:len(dst)+int(n)], nil
}

func (e *cEncoder) close() {
	if e.cctx != nil {
		e.cleanup.Stop()
		C.ZSTD_freeCCtx(e.cctx)
		e.cctx = nil
	}
}

// cDecoder decompresses with one libzstd decompression context. It is not
// safe for concurrent use.
type cDecoder struct {
	dctx *C.ZSTD_DCtx
}

// cDecoders recycles decompression contexts; one freed by the pool is
// released by its cleanup.
var cDecoders = sync.Pool{New: func() any {
	d := &cDecoder{dctx: C.ZSTD_createDCtx()}
	if d.dctx == nil {
		return nil
	}
	runtime.AddCleanup(d, func(c *C.ZSTD_DCtx) { C.ZSTD_freeDCtx(c) }, d.dctx)
	return d
}}

// decodeFrame decompresses comp, which must decompress to exactly n
// bytes, into dst's storage if large enough. libzstd decodes about twice
// as fast as the pure Go decoder: reading frames is most of the CPU of a
// server whose frame cache is cold. Decoding into a buffer of n bytes
// bounds the memory it takes, whatever the frame header claims.
func (r *packReader) decodeFrame(dst, comp []byte, n uint32) ([]byte, error) {
	if n == 0 || len(comp) == 0 {
		return r.dec.DecodeAll(comp, dst[:0])
	}
	d, _ := cDecoders.Get().(*cDecoder)
	if d == nil {
		return nil, fmt.Errorf("chunkstore: libzstd: cannot create a decompression context")
	}
	defer cDecoders.Put(d)
	if cap(dst) < int(n) {
		dst = make([]byte, 0, n)
	}
	// A frame that holds more than n bytes fails: the buffer is too small.
	out := dst[:n]
	// Go memory passed to C holds no Go pointers: allowed by the cgo rules.
	got := C.ZSTD_decompressDCtx(d.dctx, unsafe.Pointer(&out[0]), C.size_t(len(out)),
		unsafe.Pointer(&comp[0]), C.size_t(len(comp)))
	runtime.KeepAlive(d)
	if C.ZSTD_isError(got) != 0 {
		return nil, fmt.Errorf("libzstd: %s", C.GoString(C.ZSTD_getErrorName(got)))
	}
	return out[:got], nil
}
