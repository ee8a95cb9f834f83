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
//	GET|HEAD /nar/<narhash>.nar.zst      the same, zstd-compressed on the fly
//	GET|HEAD /<hash>.ls                  the NAR's file listing, as JSON
//	GET|HEAD /log/<drv>                  a build log (see logs.go)
//	GET|HEAD /realisations/<id>.doi      a realisation (see logs.go)
//
// Narinfos point at the zstd-compressed NAR when Options.Compression is
// "zstd" (the default: it cuts egress several times), and at the plain NAR
// with "none" (fastest on a local network). A compressed NAR's size is not
// known in advance, so its narinfo has no FileHash or FileSize.
//
// The narinfo signature covers only the store path, NarHash, NarSize and
// references, so rewriting the other fields keeps it valid. A NAR is checked
// against its NarHash as it streams out. Its first 64 KiB are read before the
// headers go out, so a NAR whose manifest is damaged or whose first chunks
// cannot be read gets a 500; if it fails later the response is aborted
// before its last byte, so a client never receives a complete wrong NAR.
// Unknown paths are 404, and so is a narinfo whose NAR's manifest is
// missing, so Nix falls through to its next substituter.
//
// # HTTP caching
//
// Every answer has a Cache-Control header. A NAR is named by its hash and
// never changes: it may be kept for a year ("immutable"). A narinfo (and
// nix-cache-info) may be kept for Options.NarInfoMaxAge (1h), a 404 for
// Options.NegativeMaxAge (1m), so that a CDN absorbs repeated misses but a
// path ingested or forgotten shows soon; errors, 401, 429 and 503 may not
// be kept. Behind auth nothing is marked public, so a shared cache does
// not hand one client's answers to another.
//
// Answers carry an ETag: a plain NAR's is its NarHash (strong), a
// compressed NAR's the same but weak, a narinfo's a hash of the text
// served. If-None-Match gets 304 when it names the tag. Last-Modified is
// not sent, since the repository would need a request per answer to learn
// it; If-Modified-Since gets 304 for a NAR still stored, whatever the date,
// as its content cannot have changed.
//
// # Ranges
//
// A plain NAR answers a GET with one byte range (Range: bytes=A-B, A-,
// -N) with 206, and one starting beyond its end with 416; several ranges,
// or an If-Range that does not name its ETag, get the whole NAR (200), as
// RFC 9110 allows. The bytes of a range are checked like a whole NAR's:
// the NAR is rebuilt from its start and read to its end, and the range's
// last byte is sent only after the hash has matched, so a client never
// receives a complete range of a damaged NAR. A range thus costs as much
// as the whole NAR on the server. A compressed NAR ignores Range (200,
// Accept-Ranges: none): its bytes are only known by compressing from the
// start, and its length only at the end, too late for Content-Range.
//
// # Listings
//
// /<hash>.ls is the JSON listing of the store path's files that Nix writes
// to a binary cache with write-nar-listing=1 (version 1: type, size,
// executable and narOffset of regular files, entries of directories,
// target of symlinks). Nothing is stored for it: the NAR is rebuilt,
// checked against its hash and walked on every request, taking a NAR
// stream slot like a download, and the answer is cacheable like the
// narinfo.
//
// # Slow clients and load
//
// Serve (or NewHTTPServer) runs the handler with connection limits, see
// HTTPOptions: a client has 10s to send its request line and headers
// (ReadHeaderTimeout), 30s for the whole request (ReadTimeout), and a
// keep-alive connection is closed after 2m without a request
// (IdleTimeout). A request line and headers over 16 KiB get 431
// (MaxHeaderBytes). Small responses must be written within 1m
// (WriteTimeout). A NAR download has no overall time limit, since a big
// NAR over a slow link may take hours: its deadline moves with every
// 64 KiB write instead, so a client that stops reading for SendTimeout (1m)
// is cut off and frees what its stream held.
//
// Each NAR stream decodes a few frames ahead of its client and so holds up
// to tens of MiB. MaxConcurrentNARs bounds the streams server-wide
// (default: a quarter of the memory over 48 MiB a stream, see
// DefaultMaxConcurrentNARs); a download beyond it waits in line for up to
// QueueTimeout (30s), then gets 503 with Retry-After, which Nix retries.
//
// Slow readers could otherwise hold every slot for next to no bandwidth
// and make Nix fail rather than fall through to its next substituter.
// So one client (an IP address, an IPv6 /64) may hold or wait for only
// MaxStreamsPerClient streams; one more gets 429 with Retry-After at once
// (Nix retries it). The last slots, a sixteenth (at least one), go only
// to clients that hold no stream yet. And a download whose client takes
// less than MinRate (16 KiB/s) over a MinRateWindow (30s) of the time the
// server waits on it, after a first window of grace, is cut off and
// logged with the client address and NAR hash.
//
// # Authentication
//
// Off by default. With Options.Auth, every request must present a bearer
// token (Authorization: Bearer TOKEN) or basic-auth credentials; a token is
// also accepted as a basic-auth password under any user name. Others get
// 401 with WWW-Authenticate. Nix sends basic auth from a netrc file:
//
//	machine cache.example login nix password TOKEN-OR-PASSWORD
//
// with netrc-file pointing at it in nix.conf (or --option netrc-file FILE).
// Uploads (Options.Uploads) need the credentials of Options.UploadAuth,
// which also admit reads: see upload.go. Without Options.Uploads the
// server has no write or admin endpoint, with or without auth.
//
// # Read API
//
// With Options.ReadAPI, the server also answers, under the same read
// auth, the read API that nardedup's own clients (package remote) use to
// fetch only the chunks they lack (readapi.go):
//
//	GET|HEAD /_nardedup/v1/info                      JSON: version, store_dir, strip, chunker
//	GET|HEAD /_nardedup/v1/manifest/<narhash>        the NAR's manifest, locations included
//	GET|HEAD /_nardedup/v1/frame/<pack>/<off>/<len>  bytes of a pack: a zstd frame
//	GET|HEAD /_nardedup/v1/forward/<pack>            the forward record of a deleted pack
//	GET|HEAD /_nardedup/v1/narinfos?after=&limit=    JSON: a page of narinfo hashes, sorted
//	GET|HEAD /_nardedup/v1/narinfo/<hash>            the narinfo as stored, byte for byte
//
// The version is in the path: a client reads info, and a server of a later
// release may serve /_nardedup/v2/ beside v1. nix-cache-info is left as it
// is. Frames and forward records never change meaning (a pack id is unique
// to one store of it, a pack and a record are never rewritten): they are
// immutable like a NAR, with a strong ETag. A manifest is named by its NAR,
// and upgrade rewrites it in place, so it is cached like a narinfo and
// revalidated by its ETag. A frame's length is bounded by MaxFrameBytes;
// any path not spelled exactly as above is 404.
//
// # Pull-through
//
// With Options.Pull, what the repository lacks is asked of upstream
// caches, served as it arrives and stored: see pull.go.
//
// # Observing it
//
// Observe wraps the handler New returns with an access log, Prometheus
// metrics of the requests (on a registry the caller passes) and the health
// endpoints /healthz and /readyz, which it answers before authentication.
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
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/nardedup/nardedup/internal/countio"
	"github.com/nardedup/nardedup/narfmt"
	"github.com/nardedup/nardedup/narfmt/narinfo"
	"github.com/nardedup/nardedup/narfmt/nixhash"
	"github.com/nardedup/nardedup/narfmt/signature"
	"github.com/nardedup/nardedup/narfmt/storepath"
	"github.com/nardedup/nardedup/narstore"
)

// Options configure a Server.
type Options struct {
	Priority    int          // nix-cache-info Priority; 0 means 40
	Logger      *slog.Logger // nil: slog.Default()
	Compression string       // what narinfos offer: "zstd" (default) or "none"

	// SendTimeout bounds each 64 KiB write of a NAR (default 1m): a
	// client that stops reading is cut off after it, one that reads
	// slowly but steadily never is.
	SendTimeout time.Duration
	// MaxConcurrentNARs bounds the NAR downloads in progress: 0 means
	// DefaultMaxConcurrentNARs(), a negative value no bound.
	MaxConcurrentNARs int
	// QueueTimeout is how long a NAR download waits for one of the
	// MaxConcurrentNARs slots before it gets 503 (default 30s).
	QueueTimeout time.Duration
	// MaxStreamsPerClient bounds the NAR downloads one client (an IP
	// address, an IPv6 /64) may have in progress or in line; one more
	// gets 429 at once. 0 means DefaultMaxStreamsPerClient of the
	// MaxConcurrentNARs bound, a negative value no bound.
	MaxStreamsPerClient int
	// MinRate is the rate in bytes/s below which a NAR download is cut
	// off, measured over MinRateWindow of the time the server waits on
	// the client; the first window is a grace period. 0 means
	// DefaultMinRate, a negative value no minimum.
	MinRate int
	// MinRateWindow is the window of MinRate (default 30s).
	MinRateWindow time.Duration
	// Auth, if not nil, lists the credentials every request must present.
	Auth *Auth
	// NarInfoMaxAge is how long caches may keep a narinfo (and
	// nix-cache-info) without asking again: 0 means DefaultNarInfoMaxAge,
	// a negative value that they must ask every time. A narinfo can
	// change (forget, a new ingest), so keep it short.
	NarInfoMaxAge time.Duration
	// NegativeMaxAge is the same for a 404: 0 means
	// DefaultNegativeMaxAge. Keep it shorter still, since an ingest may
	// add the path at any time.
	NegativeMaxAge time.Duration

	// Uploads, if not nil, takes the NARs and narinfos that clients
	// presenting UploadAuth push (see upload.go); UploadAuth must then be
	// set. Without Uploads the server is read-only.
	Uploads    Uploads
	UploadAuth *Auth
	// MaxUploadSize bounds a pushed NAR file and the NAR it holds
	// (default DefaultMaxUploadSize).
	MaxUploadSize int64
	// UploadRequireSigs, if not empty, refuses a pushed narinfo without a
	// valid signature by one of these keys.
	UploadRequireSigs []signature.PublicKey
	// SignKey, if not nil, adds the server's signature to every pushed
	// narinfo it accepts.
	SignKey *signature.SecretKey

	// ReadAPI, if not nil, serves the read API (see readapi.go) from
	// the repository's objects; without it its paths are 404.
	ReadAPI *ReadAPI
	// NARCache, if not nil, keeps the NARs served, checked, in local
	// files, and serves them from there while the repository holds them.
	NARCache *NARCache
	// Pull, if not nil, serves what the repository lacks from upstream
	// caches and stores it (see pull.go).
	Pull *Pull
}

// Store is what a Server reads: narinfos by store path hash and NARs by
// their NarHash. *narstore.Store implements it. Lookups of what the store
// lacks return errors wrapping narstore.ErrNotFound; narstore.ErrCorrupt
// marks damage.
type Store interface {
	// StoreDir is the Nix store directory of the stored paths.
	StoreDir() string
	NarInfo(ctx context.Context, hash string) ([]byte, error)
	HasManifest(ctx context.Context, narHash narfmt.Hash) (bool, error)
	Manifest(ctx context.Context, narHash narfmt.Hash) (*narstore.Manifest, error)
	// Open returns the NAR, checked against narHash as it is read: a
	// mismatch is a read error before the last byte.
	Open(ctx context.Context, narHash narfmt.Hash) (io.ReadCloser, *narstore.Manifest, error)
}

var _ Store = (*narstore.Store)(nil)

// Server is an http.Handler serving one repository. It is read-only
// unless Options.Uploads is set.
type Server struct {
	zstd         bool
	st           Store
	storeDir     string
	log          *slog.Logger
	cacheInfo    []byte
	sendTimeout  time.Duration
	minRate      int64
	rateWindow   time.Duration
	streams      *streamLimit
	auth         *Auth
	cache        cachePolicy
	infoETag     string // of cacheInfo
	uploads      Uploads
	uploadAuth   *Auth
	maxUpload    int64
	requireSigs  []signature.PublicKey
	signKey      *signature.SecretKey
	readAPI      *ReadAPI
	infoDoc      []byte       // the read API's info document
	nars         *NARCache    // nil: none
	extras       Extras       // nil: no build logs or realisations
	extraUploads ExtraUploads // nil: none taken
	pull         *puller      // nil: no pull-through
}

// New returns a Server for st.
func New(st Store, opts Options) *Server {
	if opts.Priority == 0 {
		opts.Priority = 40
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.SendTimeout <= 0 {
		opts.SendTimeout = DefaultSendTimeout
	}
	if opts.MaxUploadSize <= 0 {
		opts.MaxUploadSize = DefaultMaxUploadSize
	}
	if opts.Uploads != nil && opts.UploadAuth == nil {
		opts.UploadAuth = &Auth{} // admits nobody
	}
	dir := st.StoreDir()
	info := fmt.Sprintf("StoreDir: %s\nWantMassQuery: 1\nPriority: %d\n", dir, opts.Priority)
	minRate, window := opts.minRate()
	extras, _ := st.(Extras)
	extraUploads, _ := opts.Uploads.(ExtraUploads)
	srv := &Server{extras: extras, extraUploads: extraUploads, st: st, storeDir: dir, log: opts.Logger, cacheInfo: []byte(info),
		zstd: opts.Compression != "none", sendTimeout: opts.SendTimeout,
		minRate: minRate, rateWindow: window,
		streams: newStreamLimit(opts.MaxConcurrentNARs, opts.MaxStreamsPerClient, opts.QueueTimeout), auth: opts.Auth,
		cache: newCachePolicy(opts), infoETag: etagOf([]byte(info)),
		uploads: opts.Uploads, uploadAuth: opts.UploadAuth, maxUpload: opts.MaxUploadSize,
		requireSigs: opts.UploadRequireSigs, signKey: opts.SignKey, readAPI: opts.ReadAPI, nars: opts.NARCache}
	if opts.ReadAPI != nil {
		srv.infoDoc = infoDocument(opts.ReadAPI)
	}
	if opts.Pull != nil {
		srv.pull = newPuller(*opts.Pull, dir, opts.Logger)
	}
	return srv
}

// minRate returns MinRate (0: none) and MinRateWindow, defaults resolved.
func (o Options) minRate() (int64, time.Duration) {
	rate, window := int64(max(o.MinRate, 0)), o.MinRateWindow
	if o.MinRate == 0 {
		rate = DefaultMinRate
	}
	if window <= 0 {
		window = DefaultMinRateWindow
	}
	return rate, window
}

// Limits are the bounds a Server puts on NAR downloads, defaults
// resolved. A bound of 0 means none.
type Limits struct {
	MaxConcurrentNARs   int
	MaxStreamsPerClient int
	ReservedStreams     int // the last slots, kept for clients holding no stream
	MinRate             int // bytes/s
	MinRateWindow       time.Duration
}

// Limits returns the bounds a Server built with o puts on NAR downloads.
func (o Options) Limits() Limits {
	l := newStreamLimit(o.MaxConcurrentNARs, o.MaxStreamsPerClient, o.QueueTimeout)
	rate, window := o.minRate()
	return Limits{MaxConcurrentNARs: max(l.total, 0), MaxStreamsPerClient: max(l.perClient, 0),
		ReservedStreams: l.reserved, MinRate: int(rate), MinRateWindow: window}
}

var _ http.Handler = (*Server)(nil)

// ServeHTTP routes a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Every answer says how long it may be cached; those that do not
	// say otherwise may not be.
	w.Header().Set("Cache-Control", noStore)
	if r.Method == http.MethodPut && s.uploads != nil {
		s.serveUpload(w, r)
		return
	}
	if s.auth != nil && !s.readAllowed(r) {
		s.auth.deny(w)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, ReadAPIPrefix):
		s.serveReadAPI(w, r, p[len(ReadAPIPrefix):])
	case p == "/nix-cache-info":
		s.serveBytes(w, r, "text/x-nix-cache-info", s.cacheInfo, s.infoETag)
	case strings.HasSuffix(p, ".narinfo") && strings.Count(p, "/") == 1:
		s.serveNarInfo(w, r, strings.TrimSuffix(p[1:], ".narinfo"))
	case strings.HasSuffix(p, ".ls") && strings.Count(p, "/") == 1:
		s.serveListing(w, r, strings.TrimSuffix(p[1:], ".ls"))
	case strings.HasPrefix(p, "/nar/") && strings.HasSuffix(p, ".nar") && strings.Count(p, "/") == 2:
		s.serveNAR(w, r, strings.TrimSuffix(p[len("/nar/"):], ".nar"), false)
	case strings.HasPrefix(p, "/nar/") && strings.HasSuffix(p, ".nar.zst") && strings.Count(p, "/") == 2:
		s.serveNAR(w, r, strings.TrimSuffix(p[len("/nar/"):], ".nar.zst"), true)
	case strings.HasPrefix(p, "/log/"):
		drv, _ := logName(p)
		s.serveLog(w, r, drv)
	case strings.HasPrefix(p, "/realisations/"):
		id, _ := realisationID(p)
		s.serveRealisation(w, r, id)
	default:
		s.notFound(w, r)
	}
}

// serveBytes answers with a small body that may change, such as a
// narinfo: cacheable for the narinfo max-age, and revalidated by etag.
func (s *Server) serveBytes(w http.ResponseWriter, r *http.Request, ctype string, body []byte, etag string) {
	w.Header().Set("Cache-Control", s.cache.narinfo)
	w.Header().Set("ETag", etag)
	if notModified(w, r, etag, false) {
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodGet {
		w.Write(body)
	}
}

func (s *Server) serveNarInfo(w http.ResponseWriter, r *http.Request, hash string) {
	if !storepath.IsHash(hash) {
		s.notFound(w, r)
		return
	}
	what := "narinfo " + hash
	ni, narHash, err := s.narInfo(r.Context(), hash)
	if errors.Is(err, narstore.ErrNotFound) && s.pull != nil {
		s.servePulledNarInfo(w, r, hash)
		return
	}
	if err != nil {
		s.fail(w, r, what, err)
		return
	}
	// A narinfo whose NAR cannot be served would make Nix fail on the NAR
	// instead of falling through to its next substituter.
	ok, err := s.st.HasManifest(r.Context(), narHash)
	if err != nil {
		s.fail(w, r, what, err)
		return
	}
	if !ok {
		s.log.Warn("narinfo without its NAR", "path", r.URL.Path, "object", what, "narhash", ni.NarHash)
		s.notFound(w, r)
		return
	}
	body := []byte(ni.String())
	s.serveBytes(w, r, "text/x-nix-narinfo", body, etagOf(body))
}

// narInfo returns the narinfo of store path hash, pointed at the NAR this
// server serves, and its NarHash.
func (s *Server) narInfo(ctx context.Context, hash string) (*narinfo.NarInfo, narfmt.Hash, error) {
	text, err := s.st.NarInfo(ctx, hash)
	if err != nil {
		return nil, narfmt.Hash{}, err
	}
	ni, err := narinfo.ParseStoreDir(bytes.NewReader(text), s.storeDir)
	var narHash narfmt.Hash
	if err == nil {
		narHash, err = rewrite(ni, s.storeDir, hash, s.zstd)
	}
	if err != nil {
		return nil, narHash, fmt.Errorf("%w: %v", narstore.ErrCorrupt, err)
	}
	return ni, narHash, nil
}

// PointAtNAR points a narinfo at the plain NAR a server serves under
// nar/<NarHash>.nar, after checking that it is the narinfo of the store
// path hash asked for, and returns its NarHash. Servers in front of
// another cache (package proxy) rewrite narinfos as this one does.
func PointAtNAR(ni *narinfo.NarInfo, storeDir, hash string) (narfmt.Hash, error) {
	return rewrite(ni, storeDir, hash, false)
}

// rewrite points a narinfo at the NAR this server serves, plain or
// zstd-compressed, after checking that it is the narinfo of the store path
// hash asked for, and returns its NarHash.
func rewrite(ni *narinfo.NarInfo, storeDir, hash string, zstd bool) (narfmt.Hash, error) {
	var narHash narfmt.Hash
	sp, err := storepath.Parse(storeDir, ni.StorePath)
	if err != nil || sp.Hash != hash {
		return narHash, fmt.Errorf("narinfo of %s stored under %s", ni.StorePath, hash)
	}
	narHash, err = ni.NarSHA256()
	if err != nil {
		return narHash, err
	}
	h := nixhash.Hash{Algo: nixhash.SHA256, Digest: narHash[:]}
	ni.URL = "nar/" + h.Base32() + ".nar"
	ni.Compression = "none"
	ni.FileHash = h.String()
	ni.FileSize = ni.NarSize
	if zstd {
		ni.URL += ".zst"
		ni.Compression = "zstd"
		ni.FileHash, ni.FileSize = "", 0
	}
	return narHash, nil
}

// narBufSize is how much of a NAR is read before the response headers go
// out, and the size of each write after that.
const narBufSize = 64 << 10

var narBufs = sync.Pool{New: func() any { return new([narBufSize]byte) }}

func (s *Server) serveNAR(w http.ResponseWriter, r *http.Request, name string, zst bool) {
	narHash, err := narfmt.ParseHash(name)
	if err != nil {
		s.notFound(w, r)
		return
	}
	what := "NAR " + name
	if r.Method == http.MethodHead || conditional(r) {
		// A HEAD needs the size, a conditional GET that the NAR is
		// still there: a client holding it must not be told it is fresh
		// after it was deleted.
		size, err := s.narSize(r.Context(), narHash)
		if err != nil {
			s.fail(w, r, what, err)
			return
		}
		s.narHeaders(w, narHash, size, zst)
		if notModified(w, r, w.Header().Get("ETag"), true) || r.Method == http.MethodHead {
			return
		}
	}
	// A download's writes are bounded by SendTimeout each and by the
	// minimum rate, not by the server's WriteTimeout for the whole
	// response; the time spent in line does not count.
	client := clientKey(r)
	snd := newSender(w, s.sendTimeout, s.minRate, s.rateWindow, func(sent int64) {
		s.log.Warn("NAR cut: client reads below the minimum rate", "client", r.RemoteAddr, "nar", name,
			"window_bytes", sent, "min_rate", s.minRate, "window", s.rateWindow)
	})
	got := s.acquireStream(w, r, client)
	snd.next()
	if !got {
		return
	}
	defer s.streams.release(client)
	s.streamNAR(w, r, snd, narHash, name, zst)
}

// acquireStream takes one of the NAR stream slots for client, to be given
// back with s.streams.release, and reports true; or answers 429 or 503
// (or drops a request whose client is gone) and reports false.
func (s *Server) acquireStream(w http.ResponseWriter, r *http.Request, client string) bool {
	err := s.streams.acquire(r.Context(), client)
	if err == nil {
		return true
	}
	if r.Context().Err() != nil {
		panic(http.ErrAbortHandler)
	}
	w.Header().Set("Cache-Control", noStore)
	if errors.Is(err, errClientBusy) {
		s.log.Info("NAR refused: client holds its share of streams", "path", r.URL.Path, "client", r.RemoteAddr,
			"per_client", s.streams.perClient)
		w.Header().Set("Retry-After", "1")
		http.Error(w, "too many downloads in progress from "+client, http.StatusTooManyRequests)
		return false
	}
	s.log.Warn("NAR refused: all streams busy", "path", r.URL.Path, "client", r.RemoteAddr)
	w.Header().Set("Retry-After", "5")
	http.Error(w, "too many downloads in progress", http.StatusServiceUnavailable)
	return false
}

// streamNAR sends the NAR, plain or zstd-compressed, through snd.
func (s *Server) streamNAR(w http.ResponseWriter, r *http.Request, snd *sender, narHash narfmt.Hash, name string, zst bool) {
	what := "NAR " + name
	rc, m, cached, err := s.openNAR(r.Context(), narHash)
	var size uint64
	if err == nil {
		size = m.NarSize
	} else if errors.Is(err, narstore.ErrNotFound) && s.pull != nil {
		rc, size, err = s.openPulled(r.Context(), narHash)
	}
	if err != nil {
		s.fail(w, r, what, err)
		return
	}
	defer func() { rc.Close() }()
	rng, ranged := byteRange{}, rangeNone
	if !zst {
		rng, ranged = parseRange(r, size, `"`+narHash.String()+`"`)
	}
	if ranged == rangeUnsatisfiable {
		w.Header().Set("Content-Range", "bytes */"+strconv.FormatUint(size, 10))
		http.Error(w, "range not satisfiable", http.StatusRequestedRangeNotSatisfiable)
		return
	}
	buf := narBufs.Get().(*[narBufSize]byte)
	defer narBufs.Put(buf)
	// The first buffer is read before the headers are sent, so a NAR that
	// fails at once (a missing or damaged first chunk) gets a clean 500, and
	// a small NAR is fully checked before its first byte goes out.
	n, err := fill(rc, buf[:])
	if err != nil && !errors.Is(err, io.EOF) && cached {
		// A damaged cache entry (now removed): rebuild the NAR instead.
		s.log.Warn("NAR cache entry damaged", "nar", name, "err", err)
		rc.Close()
		if rc, _, err = s.openRepo(r.Context(), narHash); err != nil {
			rc = io.NopCloser(nil)
			s.fail(w, r, what, err)
			return
		}
		n, err = fill(rc, buf[:])
	}
	if err != nil && !errors.Is(err, io.EOF) {
		s.fail(w, r, what, err)
		return
	}
	s.narHeaders(w, narHash, size, zst)
	defer snd.next() // for the final flush
	if ranged == rangeOne {
		s.sendRange(w, r, snd, rc, buf[:], n, err, name, size, rng)
		return
	}
	if !zst {
		s.copyNAR(snd, r, rc, buf[:], n, err, name, size)
		return
	}
	zw := zstdWriters.Get().(*zstd.Encoder)
	zw.Reset(snd)
	defer func() { zw.Reset(nil); zstdWriters.Put(zw) }()
	s.copyNAR(zw, r, rc, buf[:], n, err, name, size)
	// Only a NAR that was rebuilt and checked to its end gets the end of
	// its zstd frame; an aborted one is an incomplete stream.
	if err := zw.Close(); err != nil {
		panic(http.ErrAbortHandler)
	}
}

// openNAR opens NAR narHash: from the NAR cache if it holds it (cached),
// else from the repository, to be written to the cache as it is read.
// The repository's manifest is read either way, so that a NAR it no
// longer holds is not served from the cache.
func (s *Server) openNAR(ctx context.Context, narHash narfmt.Hash) (rc io.ReadCloser, m *narstore.Manifest, cached bool, err error) {
	if s.nars != nil && s.nars.has(narHash) {
		if m, err = s.st.Manifest(ctx, narHash); err != nil {
			return nil, nil, false, err
		}
		if rc := s.nars.open(narHash, m.NarSize); rc != nil {
			return rc, m, true, nil
		}
	}
	rc, m, err = s.openRepo(ctx, narHash)
	return rc, m, false, err
}

// openRepo opens NAR narHash from the repository, to be written to the
// NAR cache, if any, as it is read.
func (s *Server) openRepo(ctx context.Context, narHash narfmt.Hash) (io.ReadCloser, *narstore.Manifest, error) {
	rc, m, err := s.st.Open(ctx, narHash)
	if err != nil || s.nars == nil {
		return rc, m, err
	}
	return s.nars.fill(rc, narHash, m.NarSize), m, nil
}

// sendRange sends one range of the NAR whose first buffer, buf[:n], was
// read with error rerr. The NAR is rebuilt from its start, since only the
// whole NAR can be checked against its hash, and read to its end even when
// the range ends sooner; the range's last byte goes out only after that,
// so a NAR that fails its check never yields a complete range: the client
// sees the connection close short of the Content-Length.
func (s *Server) sendRange(w http.ResponseWriter, r *http.Request, snd *sender, rc io.Reader, buf []byte, n int, rerr error, name string, size uint64, rng byteRange) {
	h := w.Header()
	h.Set("Content-Length", strconv.FormatUint(rng.end-rng.start, 10))
	h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", rng.start, rng.end-1, size))
	w.WriteHeader(http.StatusPartialContent)
	rw := &rangeWriter{w: snd, flush: snd.ctl.Flush, rng: rng}
	s.copyNAR(rw, r, rc, buf, n, rerr, name, size)
	if !rw.haveHeld || rw.off != size {
		s.log.Error("NAR range aborted", "path", r.URL.Path, "nar", name, "read", rw.off, "size", size)
		panic(http.ErrAbortHandler)
	}
	if _, err := snd.Write([]byte{rw.held}); err != nil {
		panic(http.ErrAbortHandler)
	}
}

// zstdWriters holds encoders for compressed NARs: fast, and single-threaded
// so that one request takes one core at most.
var zstdWriters = sync.Pool{New: func() any {
	zw, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(1<<22))
	if err != nil {
		panic(err)
	}
	return zw
}}

// narHeaders sets the headers of a NAR answer. The entity tag of a plain
// NAR is its NarHash, and strong: the bytes are the same from every server
// and release. That of a compressed NAR is weak, since another zstd
// encoder may compress the same NAR into other bytes.
func (s *Server) narHeaders(w http.ResponseWriter, narHash narfmt.Hash, size uint64, zst bool) {
	w.Header().Set("Cache-Control", s.cache.immutable())
	if zst {
		w.Header().Set("ETag", `W/"`+narHash.String()+`.zst"`)
		w.Header().Set("Accept-Ranges", "none")
		w.Header().Set("Content-Type", "application/zstd")
		return
	}
	w.Header().Set("ETag", `"`+narHash.String()+`"`)
	w.Header().Set("Accept-Ranges", "bytes")
	w.Header().Set("Content-Type", "application/x-nix-nar")
	w.Header().Set("Content-Length", strconv.FormatUint(size, 10))
}

// copyNAR sends buf[:n], already read with error rerr, then the rest of rc.
// If rc fails, it aborts the response: the client sees a truncated body,
// never a complete wrong NAR.
func (s *Server) copyNAR(w io.Writer, r *http.Request, rc io.Reader, buf []byte, n int, rerr error, name string, size uint64) {
	var sent int64
	for {
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				s.log.Debug("NAR not delivered", "nar", name, "sent", sent, "size", size, "err", err)
				panic(http.ErrAbortHandler)
			}
			sent += int64(n)
		}
		if errors.Is(rerr, io.EOF) {
			return
		}
		if rerr != nil {
			if r.Context().Err() == nil {
				s.log.Error("NAR aborted", "path", r.URL.Path, "nar", name, "sent", sent, "size", size, "err", rerr)
			}
			panic(http.ErrAbortHandler)
		}
		if wt, ok := rc.(io.WriterTo); ok {
			// The rest straight from rc's own buffers (a rebuilt NAR's
			// read-ahead pipe): one copy of every byte less.
			sw := &sendWriter{Writer: countio.Writer{W: w}}
			_, rerr = wt.WriteTo(sw)
			sent += sw.N
			if sw.err != nil {
				s.log.Debug("NAR not delivered", "nar", name, "sent", sent, "size", size, "err", sw.err)
				panic(http.ErrAbortHandler)
			}
			if rerr == nil {
				return
			}
			n = 0 // report rerr
			continue
		}
		n, rerr = fill(rc, buf)
	}
}

// sendWriter counts the bytes written to W and keeps W's error, which
// tells a client gone from a NAR that failed.
type sendWriter struct {
	countio.Writer
	err error
}

func (sw *sendWriter) Write(p []byte) (int, error) {
	n, err := sw.Writer.Write(p)
	if err != nil {
		sw.err = err
	}
	return n, err
}

// fill reads into buf until it is full or r returns an error. It returns
// nil, not io.EOF, with a full buffer.
func fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// fail answers 404 for what the repository does not hold and 500 for
// anything else, logging the latter.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, what string, err error) {
	if errors.Is(err, narstore.ErrNotFound) {
		s.notFound(w, r)
		return
	}
	if r.Context().Err() != nil {
		// The client is gone: no answer, and no empty 200 either.
		panic(http.ErrAbortHandler)
	}
	s.log.Error("request failed", "path", r.URL.Path, "object", what, "err", err)
	w.Header().Set("Cache-Control", noStore)
	http.Error(w, "internal error", http.StatusInternalServerError)
}
