package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/forward"
	"github.com/nardedup/nardedup/chunkstore/pack"
	"github.com/nardedup/nardedup/narfmt"
	"github.com/nardedup/nardedup/narfmt/storepath"
	"github.com/nardedup/nardedup/narstore"
	"github.com/nardedup/nardedup/repo/layout"
)

// The read API (see the package documentation) lives below this prefix;
// its version is the last element, so that a server of a later release
// can serve /_nardedup/v2/ beside it.
const (
	ReadAPIPrefix  = "/_nardedup/v1/"
	ReadAPIVersion = 1
)

// MaxFrameBytes bounds the compressed frame the read API serves: the
// largest frame (pack.MaxFrameSize) as zstd stores it when its data does
// not compress.
const MaxFrameBytes = pack.MaxFrameSize + pack.MaxFrameSize/64

// ReadAPI is what the read API serves beside the Store.
type ReadAPI struct {
	// Objects is the repository's backend: frames are read from its
	// packs, forward records from it.
	Objects backend.Backend
	// Config is the repository's NAR store configuration, which a client
	// needs to put back the store paths that manifests cut out.
	Config narstore.Config
	// Chunker, if not nil, is the repository's chunking, offered in the
	// info document so that a mirror cuts NARs into the same chunks.
	Chunker *chunkstore.ChunkerConfig
}

// Info is the document /_nardedup/v1/info serves.
type Info struct {
	Version  int    `json:"version"`   // ReadAPIVersion
	StoreDir string `json:"store_dir"` // narstore.Config.StoreDir
	Strip    string `json:"strip"`     // narstore.Config.Strip
	// Chunker is the repository's chunking (ReadAPI.Chunker), absent
	// from servers that do not offer it.
	Chunker *chunkstore.ChunkerConfig `json:"chunker,omitempty"`
}

// serveReadAPI routes a request below ReadAPIPrefix.
func (s *Server) serveReadAPI(w http.ResponseWriter, r *http.Request, p string) {
	if s.readAPI == nil {
		s.notFound(w, r)
		return
	}
	kind, rest, _ := strings.Cut(p, "/")
	switch kind {
	case "info":
		if rest != "" || strings.Contains(p, "/") {
			s.notFound(w, r)
			return
		}
		s.serveBytes(w, r, "application/json", s.infoDoc, etagOf(s.infoDoc))
	case "manifest":
		s.serveManifest(w, r, rest)
	case "frame":
		s.serveFrame(w, r, rest)
	case "forward":
		s.serveForward(w, r, rest)
	case "narinfos":
		if rest != "" {
			s.notFound(w, r)
			return
		}
		s.serveNarInfoList(w, r)
	case "narinfo":
		s.serveStoredNarInfo(w, r, rest)
	default:
		s.notFound(w, r)
	}
}

// infoDocument returns the body of /_nardedup/v1/info.
func infoDocument(api *ReadAPI) []byte {
	b, err := json.Marshal(Info{Version: ReadAPIVersion, StoreDir: api.Config.StoreDir, Strip: api.Config.Strip,
		Chunker: api.Chunker})
	if err != nil {
		panic(err) // a struct of strings and ints always marshals
	}
	return append(b, '\n')
}

// serveManifest answers /_nardedup/v1/manifest/<NarHash> with the NAR's
// manifest in the repository's encoding, locations included. A manifest
// is named by the NAR it rebuilds, not by its own bytes, and upgrade
// rewrites it in place with locations, so it is cached like a narinfo
// and revalidated by its ETag, a hash of the bytes served.
func (s *Server) serveManifest(w http.ResponseWriter, r *http.Request, name string) {
	narHash, err := narfmt.ParseHash(name)
	if err != nil || narHash.String() != name {
		s.notFound(w, r)
		return
	}
	m, err := s.st.Manifest(r.Context(), narHash)
	if err != nil {
		s.fail(w, r, "manifest "+name, err)
		return
	}
	if m.Locations == nil {
		// A manifest of a repository not yet upgraded: a client could
		// not find its chunks, and falls back to the NAR.
		s.log.Warn("manifest without locations asked for through the read API", "path", r.URL.Path)
		s.notFound(w, r)
		return
	}
	body := m.Encode()
	s.serveBytes(w, r, "application/x-nardedup-manifest", body, etagOf(body))
}

// parseFrameName parses "<pack id>/<offset>/<length>", each spelled one
// way only (lower-case hex, decimal without leading zeros), so that a
// frame has one URL and a cache one copy of it.
func parseFrameName(name string) (id pack.ID, off, n int64, err error) {
	parts := strings.Split(name, "/")
	if len(parts) != 3 {
		return id, 0, 0, errors.New("want <pack id>/<offset>/<length>")
	}
	if id, err = pack.ParseID(parts[0]); err != nil || id.String() != parts[0] {
		return id, 0, 0, fmt.Errorf("pack id %q", parts[0])
	}
	if off, err = parseCanonical(parts[1]); err != nil {
		return id, 0, 0, fmt.Errorf("offset %q", parts[1])
	}
	if n, err = parseCanonical(parts[2]); err != nil || n == 0 || n > MaxFrameBytes {
		return id, 0, 0, fmt.Errorf("length %q (want 1..%d)", parts[2], MaxFrameBytes)
	}
	return id, off, n, nil
}

// parseCanonical parses a decimal number below 2^62 spelled without sign
// or leading zeros.
func parseCanonical(s string) (int64, error) {
	v, err := strconv.ParseInt(s, 10, 63)
	if err == nil && (v < 0 || v >= 1<<62 || strconv.FormatInt(v, 10) != s) {
		err = errors.New("not canonical")
	}
	return v, err
}

// FrameName returns the name below ReadAPIPrefix+"frame/" of the frame of
// loc: the bytes of its pack from its offset on, as long as it is.
func FrameName(loc chunkstore.Location) string {
	return loc.Pack.String() + "/" + strconv.FormatInt(loc.FrameOffset, 10) + "/" +
		strconv.FormatUint(uint64(loc.FrameCLen), 10)
}

// serveFrame answers /_nardedup/v1/frame/<pack id>/<offset>/<length> with
// those bytes of the pack: a frame when the name comes from a location
// (zstd, or xz for cold data that garbage collection recompressed). A pack is named by a hash of its bytes and a nonce and never
// rewritten, so the answer never changes and is immutable; a pack that
// garbage collection deleted is 404, and its forward record says where
// its chunks went. The bytes are streamed as they are read, so a frame
// costs the server a buffer, not its length; a pack shorter than the
// range asked for aborts the answer before its last byte.
func (s *Server) serveFrame(w http.ResponseWriter, r *http.Request, name string) {
	id, off, n, err := parseFrameName(name)
	if err != nil {
		s.notFound(w, r)
		return
	}
	what := "frame " + name
	rc, err := s.readAPI.Objects.Get(r.Context(), chunkstore.PackKey(id), off, n)
	if err != nil {
		s.failObject(w, r, what, err)
		return
	}
	defer rc.Close()
	buf := narBufs.Get().(*[narBufSize]byte)
	defer narBufs.Put(buf)
	first, err := fill(rc, buf[:min(n, narBufSize)])
	if err != nil && !errors.Is(err, io.EOF) {
		s.fail(w, r, what, err)
		return
	}
	if int64(first) < min(n, narBufSize) {
		// The range lies beyond the pack's end: no such frame.
		s.notFound(w, r)
		return
	}
	// Validators are evaluated only for a frame still stored: a client
	// must not be told its copy is fresh when the pack is gone.
	w.Header().Set("Cache-Control", s.cache.immutable())
	w.Header().Set("ETag", `"`+strings.ReplaceAll(name, "/", "-")+`"`)
	if notModified(w, r, w.Header().Get("ETag"), true) {
		return
	}
	w.Header().Set("Content-Type", "application/zstd")
	w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
	if r.Method == http.MethodHead {
		return
	}
	snd := newSender(w, s.sendTimeout, s.minRate, s.rateWindow, func(sent int64) {
		s.log.Warn("frame cut: client reads below the minimum rate", "client", r.RemoteAddr, "frame", name,
			"window_bytes", sent, "min_rate", s.minRate)
	})
	defer snd.next() // for the final flush
	sent := int64(0)
	for m := first; ; {
		if _, err := snd.Write(buf[:m]); err != nil {
			panic(http.ErrAbortHandler)
		}
		if sent += int64(m); sent == n {
			return
		}
		m, err = fill(rc, buf[:min(n-sent, narBufSize)])
		if err != nil {
			s.log.Error("frame aborted", "path", r.URL.Path, "object", what, "sent", sent+int64(m), "err", err)
			panic(http.ErrAbortHandler)
		}
	}
}

// serveForward answers /_nardedup/v1/forward/<pack id> with the forward
// record of a deleted pack, checked. A record is written once, before the
// pack is deleted, and never rewritten: immutable. A pack without one is
// 404, cacheable only briefly, since a collection may write it any time.
func (s *Server) serveForward(w http.ResponseWriter, r *http.Request, name string) {
	id, err := pack.ParseID(name)
	if err != nil || id.String() != name {
		s.notFound(w, r)
		return
	}
	what := "forward record " + name
	rec, err := forward.Get(r.Context(), s.readAPI.Objects, id)
	if err != nil {
		s.failObject(w, r, what, err)
		return
	}
	body, err := rec.Encode()
	if err != nil {
		s.fail(w, r, what, err)
		return
	}
	w.Header().Set("Cache-Control", s.cache.immutable())
	w.Header().Set("ETag", `"forward-`+name+`"`)
	if notModified(w, r, w.Header().Get("ETag"), true) {
		return
	}
	w.Header().Set("Content-Type", "application/x-nardedup-forward")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodGet {
		w.Write(body)
	}
}

// failObject is fail for the read API's objects, read from the backend:
// one the backend lacks is 404.
func (s *Server) failObject(w http.ResponseWriter, r *http.Request, what string, err error) {
	if errors.Is(err, backend.ErrNotExist) {
		s.notFound(w, r)
		return
	}
	s.fail(w, r, what, err)
}

// Bounds of a page of /_nardedup/v1/narinfos.
const (
	DefaultNarInfoPage = 1000
	MaxNarInfoPage     = 10000
)

// NarInfoPage is the document /_nardedup/v1/narinfos serves: the store
// path hashes of stored narinfos, sorted, all greater than the query's
// after, at most limit of them. More is true when hashes beyond the last
// one may exist; the next page starts after the last hash.
type NarInfoPage struct {
	Hashes []string `json:"hashes"`
	More   bool     `json:"more"`
}

// serveNarInfoList answers /_nardedup/v1/narinfos?after=<hash>&limit=<n>
// with a NarInfoPage. The backend lists in no particular order, so every
// page lists every narinfo and keeps the smallest hashes after the
// cursor: memory is bounded by the page, not by the repository. The list
// changes as paths are ingested and forgotten, so it is never cached.
func (s *Server) serveNarInfoList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	after := q.Get("after")
	if after != "" && !storepath.IsHash(after) {
		http.Error(w, "after: not a store path hash", http.StatusBadRequest)
		return
	}
	limit := DefaultNarInfoPage
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > MaxNarInfoPage {
			http.Error(w, fmt.Sprintf("limit: want 1..%d", MaxNarInfoPage), http.StatusBadRequest)
			return
		}
		limit = n
	}
	page, err := listNarInfoPage(r.Context(), s.readAPI.Objects, after, limit)
	if err != nil {
		s.fail(w, r, "narinfo list", err)
		return
	}
	body, err := json.Marshal(page)
	if err != nil {
		s.fail(w, r, "narinfo list", err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodGet {
		w.Write(body)
	}
}

// listNarInfoPage returns the limit smallest narinfo hashes of be greater
// than after, holding at most 2*limit of them at any time.
func listNarInfoPage(ctx context.Context, be backend.Backend, after string, limit int) (*NarInfoPage, error) {
	page := &NarInfoPage{Hashes: []string{}}
	bound := "" // when More: the largest hash the page may hold
	keep := func() {
		slices.Sort(page.Hashes)
		if len(page.Hashes) > limit {
			page.Hashes, page.More = page.Hashes[:limit], true
			bound = page.Hashes[limit-1]
		}
	}
	err := layout.List(ctx, be, layout.NarInfo, func(h string, _ backend.Info) error {
		if h <= after || page.More && h > bound {
			return nil
		}
		page.Hashes = append(page.Hashes, h)
		if len(page.Hashes) == 2*limit {
			keep()
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list narinfos: %w", err)
	}
	keep()
	return page, nil
}

// serveStoredNarInfo answers /_nardedup/v1/narinfo/<hash> with the
// narinfo as it was stored, byte for byte (the binary cache protocol
// serves it pointed at the NARs this server serves), so that a mirror
// keeps the upstream's text. It may change when a path is ingested
// again, so it is cached like a narinfo.
func (s *Server) serveStoredNarInfo(w http.ResponseWriter, r *http.Request, hash string) {
	if !storepath.IsHash(hash) {
		s.notFound(w, r)
		return
	}
	text, err := s.st.NarInfo(r.Context(), hash)
	if err != nil {
		s.fail(w, r, "narinfo "+hash, err)
		return
	}
	s.serveBytes(w, r, "text/x-nix-narinfo", text, etagOf(text))
}
