package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/nardedup/nardedup/narfmt/storepath"
	"github.com/nardedup/nardedup/narstore"
)

// Build logs and realisations
//
//	GET|HEAD /log/<drv>               the build log, byte for byte
//	GET|HEAD /realisations/<id>.doi   the realisation (JSON), byte for byte
//	PUT      /log/<drv>               what nix store copy-log --to sends,
//	                                  at most Options.MaxUploadSize and
//	                                  narstore.MaxLogSize bytes
//	PUT      /realisations/<id>.doi   what nix copy sends for a CA output
//	PUT      /<hash>.ls               accepted and dropped: listings are
//	                                  built from the NAR (see Listings)
//
// They are cacheable like narinfos and missing ones are 404 like misses.
// A log is streamed, never held whole; its size is not known before its
// end, so it has no Content-Length.

// Extras is what a Server serves build logs and realisations from.
// *narstore.Store implements it; a Store that does not has none (404).
type Extras interface {
	OpenLog(ctx context.Context, drv string) (io.ReadCloser, error)
	Realisation(ctx context.Context, id string) ([]byte, error)
}

// ExtraUploads is what a Server writes pushed build logs and realisations
// through. *narstore.Store implements it; Uploads that do not refuse
// them (404).
type ExtraUploads interface {
	PutLog(ctx context.Context, drv string, r io.Reader) (int64, error)
	PutRealisation(ctx context.Context, id string, text []byte) error
}

var (
	_ Extras       = (*narstore.Store)(nil)
	_ ExtraUploads = (*narstore.Store)(nil)
)

// MaxListingUpload bounds a pushed .ls listing.
const MaxListingUpload = 64 << 20

// logName and realisationID return the name of a log or realisation
// request path, and whether it is one.
func logName(p string) (string, bool) {
	name, ok := strings.CutPrefix(p, "/log/")
	return name, ok && name != "" && !strings.Contains(name, "/")
}

func realisationID(p string) (string, bool) {
	name, ok := strings.CutPrefix(p, "/realisations/")
	id, ok2 := strings.CutSuffix(name, ".doi")
	return id, ok && ok2 && id != "" && !strings.Contains(id, "/")
}

func (s *Server) serveLog(w http.ResponseWriter, r *http.Request, drv string) {
	if s.extras == nil || narstore.CheckLogName(drv) != nil {
		s.notFound(w, r)
		return
	}
	what := "build log " + drv
	rc, err := s.extras.OpenLog(r.Context(), drv)
	if err != nil {
		s.fail(w, r, what, err)
		return
	}
	defer rc.Close()
	buf := narBufs.Get().(*[narBufSize]byte)
	defer narBufs.Put(buf)
	// As for a NAR, a log that cannot be read at all gets a clean 500.
	n, rerr := fill(rc, buf[:])
	if rerr != nil && !errors.Is(rerr, io.EOF) {
		s.fail(w, r, what, rerr)
		return
	}
	w.Header().Set("Cache-Control", s.cache.narinfo)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if r.Method == http.MethodHead {
		return
	}
	ctl := http.NewResponseController(w)
	var sent int64
	for {
		ctl.SetWriteDeadline(time.Now().Add(s.sendTimeout))
		if _, err := w.Write(buf[:n]); err != nil {
			panic(http.ErrAbortHandler)
		}
		sent += int64(n)
		if errors.Is(rerr, io.EOF) {
			return
		}
		if rerr != nil {
			s.log.Error("build log aborted", "path", r.URL.Path, "object", what, "sent", sent, "err", rerr)
			panic(http.ErrAbortHandler)
		}
		n, rerr = fill(rc, buf[:])
	}
}

func (s *Server) serveRealisation(w http.ResponseWriter, r *http.Request, id string) {
	if s.extras == nil || narstore.CheckRealisationID(id) != nil {
		s.notFound(w, r)
		return
	}
	body, err := s.extras.Realisation(r.Context(), id)
	if err != nil {
		s.fail(w, r, "realisation "+id, err)
		return
	}
	s.serveBytes(w, r, "application/json", body, etagOf(body))
}

// putExtra takes a pushed build log, realisation or listing. It reports
// false if p is none of them.
func (s *Server) putExtra(w http.ResponseWriter, r *http.Request, p string) bool {
	if drv, ok := logName(p); ok {
		s.putLog(w, r, drv)
		return true
	}
	if id, ok := realisationID(p); ok {
		s.putRealisation(w, r, id)
		return true
	}
	if hash, ok := strings.CutSuffix(p, ".ls"); ok && strings.Count(p, "/") == 1 {
		s.putListing(w, r, hash[1:])
		return true
	}
	return false
}

func (s *Server) putLog(w http.ResponseWriter, r *http.Request, drv string) {
	if s.extraUploads == nil {
		s.refuse(w, r, http.StatusNotFound, "this repository takes no build logs")
		return
	}
	if err := narstore.CheckLogName(drv); err != nil {
		s.refuse(w, r, http.StatusBadRequest, err.Error())
		return
	}
	what := "build log " + drv + " from " + r.RemoteAddr
	limit := min(s.maxUpload, narstore.MaxLogSize)
	rcv := receiver{r: http.MaxBytesReader(w, r.Body, limit), ctl: http.NewResponseController(w), timeout: s.sendTimeout}
	n, err := s.extraUploads.PutLog(r.Context(), drv, &badReader{r: rcv, max: limit})
	rcv.moveDeadlines()
	if !s.uploadError(w, r, what, err) {
		return
	}
	s.log.Info("build log pushed", "client", r.RemoteAddr, "drv", drv, "bytes", n)
	w.WriteHeader(http.StatusOK)
}

func (s *Server) putRealisation(w http.ResponseWriter, r *http.Request, id string) {
	if s.extraUploads == nil {
		s.refuse(w, r, http.StatusNotFound, "this repository takes no realisations")
		return
	}
	if err := narstore.CheckRealisationID(id); err != nil {
		s.refuse(w, r, http.StatusBadRequest, err.Error())
		return
	}
	what := "realisation " + id + " from " + r.RemoteAddr
	text, err := io.ReadAll(http.MaxBytesReader(w, r.Body, narstore.MaxRealisationSize))
	if err == nil {
		err = narstore.CheckRealisation(id, text)
	}
	if err == nil {
		err = s.extraUploads.PutRealisation(r.Context(), id, text)
	}
	if !s.uploadError(w, r, what, err) {
		return
	}
	s.log.Info("realisation pushed", "client", r.RemoteAddr, "id", id)
	w.WriteHeader(http.StatusOK)
}

// putListing reads a pushed listing and drops it: the server builds
// listings from the NAR, which it checks, so a pushed one could only
// disagree. Nix pushes it before the NAR, so it cannot be checked then.
func (s *Server) putListing(w http.ResponseWriter, r *http.Request, hash string) {
	if !storepath.IsHash(hash) {
		s.refuse(w, r, http.StatusBadRequest, "not a store path hash: "+hash)
		return
	}
	_, err := io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, MaxListingUpload))
	if !s.uploadError(w, r, "listing "+hash+" from "+r.RemoteAddr, err) {
		return
	}
	s.log.Debug("listing pushed and dropped", "client", r.RemoteAddr, "hash", hash)
	w.WriteHeader(http.StatusOK)
}

// uploadError answers the error of an upload of what, if any: 413 for
// too large, 400 for what the client sent, 500 for the repository's. It
// reports whether err was nil.
func (s *Server) uploadError(w http.ResponseWriter, r *http.Request, what string, err error) bool {
	var tooBig *http.MaxBytesError
	switch {
	case err == nil:
		return true
	case errors.As(err, &tooBig):
		s.refuse(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("%s: larger than %d bytes", what, tooBig.Limit))
	case errors.Is(err, narstore.ErrTooLarge):
		s.refuse(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("%s: %v", what, err))
	case errors.Is(err, narstore.ErrBadName), errors.As(err, new(badUpload)), errors.Is(err, io.ErrUnexpectedEOF):
		s.refuse(w, r, http.StatusBadRequest, fmt.Sprintf("%s: %v", what, err))
	default:
		s.fail(w, r, what, err)
	}
	return false
}
