package server

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Defaults of Options.NarInfoMaxAge and Options.NegativeMaxAge.
const (
	DefaultNarInfoMaxAge  = time.Hour
	DefaultNegativeMaxAge = time.Minute
)

// narMaxAge is the max-age of a NAR: a year, the most RFC 9111 caches are
// asked to keep anything. A NAR is named by its hash and never changes.
const narMaxAge = 365 * 24 * time.Hour

// cachePolicy writes the Cache-Control header of each kind of answer.
type cachePolicy struct {
	scope    string // "public, " or "" (see newCachePolicy)
	narinfo  string
	negative string
}

// newCachePolicy returns the policy for the max-ages of opts. Answers to a
// server with auth are not marked public: RFC 9111 then forbids shared
// caches (a CDN) to store them, so one client's credentials never serve
// another; the client's own cache still may.
func newCachePolicy(opts Options) cachePolicy {
	p := cachePolicy{scope: "public, "}
	if opts.Auth != nil {
		p.scope = ""
	}
	p.narinfo = p.maxAge(opts.NarInfoMaxAge, DefaultNarInfoMaxAge)
	p.negative = p.maxAge(opts.NegativeMaxAge, DefaultNegativeMaxAge)
	return p
}

// maxAge returns the Cache-Control value for d, def if d is 0: a negative
// d asks caches to check with the server before every use.
func (p cachePolicy) maxAge(d, def time.Duration) string {
	if d == 0 {
		d = def
	}
	if d < 0 {
		return p.scope + "no-cache"
	}
	return p.scope + "max-age=" + strconv.FormatInt(int64(d/time.Second), 10)
}

// immutable is the Cache-Control value of a NAR.
func (p cachePolicy) immutable() string {
	return p.maxAge(narMaxAge, 0) + ", immutable"
}

// noStore is the Cache-Control value of the answers no cache may keep:
// errors, refusals, and 401, which may change the moment a credential is
// added.
const noStore = "no-store"

// etagOf returns a strong entity tag for a small body: a prefix of its
// SHA-256.
func etagOf(body []byte) string {
	sum := sha256.Sum256(body)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}

// notModified answers 304 and reports true if the request's validators
// show that the client holds the representation whose headers are already
// set on w (ETag, Cache-Control). If-None-Match is compared weakly, as
// RFC 9110 section 13.1.2 says. If-Modified-Since is only evaluated for an
// immutable answer, which has not changed since any date a client can
// hold (the server sends no Last-Modified: learning when an object was
// stored would cost the repository a request per answer).
func notModified(w http.ResponseWriter, r *http.Request, etag string, immutable bool) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	match := false
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		match = etagListMatches(inm, etag)
	} else if ims := r.Header.Get("If-Modified-Since"); ims != "" && immutable {
		_, err := http.ParseTime(ims)
		match = err == nil
	}
	if !match {
		return false
	}
	h := w.Header()
	h.Del("Content-Type")
	h.Del("Content-Length")
	w.WriteHeader(http.StatusNotModified)
	return true
}

// etagListMatches reports whether the If-None-Match list holds etag,
// weakly compared, or is "*".
func etagListMatches(list, etag string) bool {
	if strings.TrimSpace(list) == "*" {
		return true
	}
	want := strings.TrimPrefix(etag, "W/")
	for tag := range strings.SplitSeq(list, ",") {
		if strings.TrimPrefix(strings.TrimSpace(tag), "W/") == want {
			return true
		}
	}
	return false
}

// notFound answers 404, cacheable for the negative max-age so that a CDN
// absorbs repeated lookups of paths the repository lacks.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", s.cache.negative)
	http.NotFound(w, r)
}

// conditional reports whether r carries a validator that notModified
// evaluates.
func conditional(r *http.Request) bool {
	return r.Header.Get("If-None-Match") != "" || r.Header.Get("If-Modified-Since") != ""
}
