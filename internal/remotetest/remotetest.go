// Package remotetest holds the misbehaving read-API answers that the
// tests of the read API's clients (remote, mirror) share: frames that
// arrive damaged, cut short, endless or not at all.
package remotetest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/nardedup/nardedup/server"
)

// Tamper answers some requests of a read API server in its place.
type Tamper struct {
	Name string
	// Do answers r instead of h and returns true, or returns false to
	// leave r to h.
	Do func(w http.ResponseWriter, r *http.Request, h http.Handler) bool
	// Want is part of the error a client must report.
	Want string
}

// IsFrame reports whether r asks for a frame.
func IsFrame(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, server.ReadAPIPrefix+"frame/")
}

// Recorded runs h on r and returns its answer.
func Recorded(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

// Frames returns the tampers of frames: one byte flipped, cut in half
// under the whole length, endless, and stalled after the headers (for 10
// s, beyond a client's idle timeout of under a second).
func Frames() []Tamper {
	return []Tamper{
		{"corrupt frame", func(w http.ResponseWriter, r *http.Request, h http.Handler) bool {
			if !IsFrame(r) {
				return false
			}
			b := Recorded(h, r).Body.Bytes()
			b[len(b)/2] ^= 0xff
			w.Write(b)
			return true
		}, "frame "},
		{"truncated frame", func(w http.ResponseWriter, r *http.Request, h http.Handler) bool {
			if !IsFrame(r) {
				return false
			}
			rec := Recorded(h, r)
			w.Header().Set("Content-Length", rec.Header().Get("Content-Length"))
			w.Write(rec.Body.Bytes()[:rec.Body.Len()/2])
			return true
		}, "frame "},
		{"endless frame", func(w http.ResponseWriter, r *http.Request, h http.Handler) bool {
			if !IsFrame(r) {
				return false
			}
			w.WriteHeader(http.StatusOK)
			for i := 0; i < 1<<20 && r.Context().Err() == nil; i++ {
				if _, err := w.Write(make([]byte, 64<<10)); err != nil {
					break
				}
			}
			return true
		}, "longer than"},
		{"slow frame", func(w http.ResponseWriter, r *http.Request, h http.Handler) bool {
			if !IsFrame(r) {
				return false
			}
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
			return true
		}, "no data received"},
	}
}
