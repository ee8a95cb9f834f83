//go:build cgo

package chunkstore

/*
#include <stddef.h>

// The subset of libzstd's stable API (zstd.h, v1.5) that the copier uses.
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
	if cap(dst)-len(dst) < bound {
		grown := make([]byte, len(dst), len(dst)+bound)
		copy(grown, dst)
		dst = grown
	}
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
