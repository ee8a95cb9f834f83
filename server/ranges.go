package server

import (
	"io"
	"net/http"
	"strconv"
	"strings"
)

// byteRange is the bytes [start, end) of a body.
type byteRange struct{ start, end uint64 }

// Outcomes of parseRange.
const (
	rangeNone          = iota // send the whole body: 200
	rangeOne                  // send one range: 206
	rangeUnsatisfiable        // 416
)

// parseRange reads the Range header of a GET for a body of size bytes
// whose entity tag is etag. It answers rangeNone, so that the whole body is
// sent, for what RFC 9110 section 14 lets a server ignore: no Range, a
// unit other than bytes, a malformed range, several ranges (a client
// resuming a download asks for one), and an If-Range that does not name
// the body's strong entity tag (a date cannot match, since the server
// sends no Last-Modified).
func parseRange(r *http.Request, size uint64, etag string) (byteRange, int) {
	spec := r.Header.Get("Range")
	if r.Method != http.MethodGet || spec == "" {
		return byteRange{}, rangeNone
	}
	if ir := r.Header.Get("If-Range"); ir != "" && (ir != etag || strings.HasPrefix(etag, "W/")) {
		return byteRange{}, rangeNone
	}
	unit, set, ok := strings.Cut(spec, "=")
	if !ok || !strings.EqualFold(strings.TrimSpace(unit), "bytes") {
		return byteRange{}, rangeNone
	}
	set = strings.TrimSpace(set)
	if strings.Contains(set, ",") {
		return byteRange{}, rangeNone
	}
	first, last, ok := strings.Cut(set, "-")
	if !ok {
		return byteRange{}, rangeNone
	}
	if first == "" { // the last n bytes
		n, ok := digits(last)
		if !ok {
			return byteRange{}, rangeNone
		}
		if n == 0 || size == 0 {
			return byteRange{}, rangeUnsatisfiable
		}
		return byteRange{start: size - min(n, size), end: size}, rangeOne
	}
	start, ok := digits(first)
	if !ok {
		return byteRange{}, rangeNone
	}
	end := size
	if last != "" {
		l, ok := digits(last)
		if !ok || l < start {
			return byteRange{}, rangeNone
		}
		end = min(l+1, size)
	}
	if start >= size {
		return byteRange{}, rangeUnsatisfiable
	}
	return byteRange{start: start, end: end}, rangeOne
}

// digits parses a non-empty decimal number without sign.
func digits(s string) (uint64, bool) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// rangeWriter passes on the bytes of one range of what is written to it,
// all but the range's last byte, which it keeps in held: the caller sends
// that byte only once the whole body has been checked, so a client never
// receives a complete range of a NAR that failed its hash.
type rangeWriter struct {
	w        io.Writer
	flush    func() error // of w
	rng      byteRange
	off      uint64 // bytes written so far
	held     byte
	haveHeld bool
}

func (rw *rangeWriter) Write(p []byte) (int, error) {
	lo := rw.off
	hi := lo + uint64(len(p))
	rw.off = hi
	last := rw.rng.end - 1
	if a, b := max(lo, rw.rng.start), min(hi, last); a < b {
		if _, err := rw.w.Write(p[a-lo : b-lo]); err != nil {
			return 0, err
		}
	}
	if lo <= last && last < hi {
		rw.held, rw.haveHeld = p[last-lo], true
		// The client gets what it can have now, not after the rest of
		// the NAR has been read.
		if err := rw.flush(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}
