// Package server serves a nardedup repository to unmodified Nix clients
// over the Nix binary cache HTTP protocol.
//
// # Routes
//
//	GET|HEAD /nix-cache-info             StoreDir, WantMassQuery, Priority
//	GET|HEAD /<hash>.narinfo             the upstream narinfo, Sig lines
//	                                     unchanged, URL/Compression/FileHash/
//	                                     FileSize describing what is served
//	GET|HEAD /nar/<narhash>.nar          the NAR, rebuilt bit for bit
//
// The narinfo signature covers only the store path, NarHash, NarSize and
// references, so rewriting the other fields keeps it valid. A NAR is checked
// against its NarHash as it streams out; if it cannot be rebuilt exactly
// the response is aborted before its last byte, so a client never receives
// a complete wrong NAR. Unknown paths are 404, so Nix falls through to its
// next substituter.
package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/nardedup/nardedup/narfmt/narinfo"
	"github.com/nardedup/nardedup/narfmt/nixbase32"
	"github.com/nardedup/nardedup/narfmt/nixhash"
	"github.com/nardedup/nardedup/narstore"
	"github.com/nardedup/nardedup/source"
)

// Options configure a Server.
type Options struct {
	Priority int          // nix-cache-info Priority; 0 means 40
	Logger   *slog.Logger // nil: slog.Default()
}

// Server is an http.Handler serving one repository. It is read-only.
type Server struct {
	st        *narstore.Store
	storeDir  string
	log       *slog.Logger
	cacheInfo []byte
}

// New returns a Server for st.
func New(st *narstore.Store, opts Options) *Server {
	if opts.Priority == 0 {
		opts.Priority = 40
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	dir := st.Chunks().Config().StoreDir
	info := fmt.Sprintf("StoreDir: %s\nWantMassQuery: 1\nPriority: %d\n", dir, opts.Priority)
	return &Server{st: st, storeDir: dir, log: opts.Logger, cacheInfo: []byte(info)}
}

var _ http.Handler = (*Server)(nil)

// ServeHTTP routes a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	switch {
	case p == "/nix-cache-info":
		s.serveBytes(w, r, "text/x-nix-cache-info", s.cacheInfo)
	case strings.HasSuffix(p, ".narinfo") && strings.Count(p, "/") == 1:
		s.serveNarInfo(w, r, strings.TrimSuffix(p[1:], ".narinfo"))
	case strings.HasPrefix(p, "/nar/") && strings.HasSuffix(p, ".nar") && strings.Count(p, "/") == 2:
		s.serveNAR(w, r, strings.TrimSuffix(p[len("/nar/"):], ".nar"))
	default:
		http.NotFound(w, r)
	}
}

func (s *Server) serveBytes(w http.ResponseWriter, r *http.Request, ctype string, body []byte) {
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodGet {
		w.Write(body)
	}
}

func (s *Server) serveNarInfo(w http.ResponseWriter, r *http.Request, hash string) {
	if !source.ValidHash(hash) {
		http.NotFound(w, r)
		return
	}
	text, err := s.st.NarInfo(r.Context(), hash)
	if err != nil {
		s.fail(w, r, "narinfo "+hash, err)
		return
	}
	ni, err := narinfo.ParseStoreDir(bytes.NewReader(text), s.storeDir)
	if err == nil {
		err = rewrite(ni)
	}
	if err != nil {
		s.fail(w, r, "narinfo "+hash, fmt.Errorf("%w: %v", narstore.ErrCorrupt, err))
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=3600")
	s.serveBytes(w, r, "text/x-nix-narinfo", []byte(ni.String()))
}

// rewrite points a narinfo at the uncompressed NAR this server serves.
func rewrite(ni *narinfo.NarInfo) error {
	h, err := nixhash.Parse(ni.NarHash)
	if err != nil || h.Algo != nixhash.SHA256 {
		return fmt.Errorf("NarHash %q: not SHA-256", ni.NarHash)
	}
	ni.URL = "nar/" + h.Base32() + ".nar"
	ni.Compression = "none"
	ni.FileHash = h.String()
	ni.FileSize = ni.NarSize
	return nil
}

func (s *Server) serveNAR(w http.ResponseWriter, r *http.Request, name string) {
	digest, err := nixbase32.DecodeString(name)
	if err != nil || len(digest) != 32 || len(name) != nixbase32.EncodedLen(32) {
		http.NotFound(w, r)
		return
	}
	var narHash [32]byte
	copy(narHash[:], digest)
	rc, m, err := s.st.Open(r.Context(), narHash)
	if err != nil {
		s.fail(w, r, "NAR "+name, err)
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/x-nix-nar")
	w.Header().Set("Content-Length", strconv.FormatUint(m.NarSize, 10))
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	if r.Method == http.MethodHead {
		return
	}
	n, err := io.Copy(w, rc)
	if err != nil {
		if r.Context().Err() == nil {
			s.log.Error("NAR aborted", "nar", name, "sent", n, "size", m.NarSize, "err", err)
		}
		// Abort the response: the client sees a truncated body, never a
		// complete wrong NAR.
		panic(http.ErrAbortHandler)
	}
}

// fail answers 404 for what the repository does not hold and 500 for
// anything else, logging the latter.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, what string, err error) {
	if errors.Is(err, narstore.ErrNotFound) {
		http.NotFound(w, r)
		return
	}
	if errors.Is(err, context.Canceled) {
		return
	}
	s.log.Error("request failed", "path", r.URL.Path, "object", what, "err", err)
	http.Error(w, "internal error", http.StatusInternalServerError)
}
