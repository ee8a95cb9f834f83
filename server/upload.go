package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/nardedup/nardedup/internal/decompress"
	"github.com/nardedup/nardedup/narfmt"
	"github.com/nardedup/nardedup/narfmt/narinfo"
	"github.com/nardedup/nardedup/narfmt/nixhash"
	"github.com/nardedup/nardedup/narfmt/storepath"
	"github.com/nardedup/nardedup/narstore"
)

// Pushing
//
// With Options.Uploads, the server accepts what Nix's HTTP binary cache
// store writes (nix copy --to http://HOST):
//
//	PUT /nar/<FileHash>.nar[.xz|.zst|.bz2]  the NAR file, hashed as it
//	                                        arrives, decompressed and stored
//	                                        up to its manifest
//	PUT /<hash>.narinfo                     its narinfo, Sig lines kept
//	PUT /<hash>.ls, /log/<drv>,             see logs.go
//	    /realisations/<id>.doi
//
// A NAR file is checked against the hash its name gives; what it held is
// kept as an upload record in the repository, so that its narinfo may come
// to another server. A narinfo is stored, and its path becomes visible,
// only once its NAR file was stored and its NarHash, NarSize, FileHash,
// FileSize and Compression all match the file's record. Every refusal is a
// 4xx whose body says why.
//
// The narinfo is stored as pushed, Sig lines and all. With
// Options.UploadRequireSigs one of them must be valid by one of those
// keys; with Options.SignKey the server adds its own signature.

// Uploads is what a Server writes pushed NARs and narinfos through.
// *narstore.Store implements it.
type Uploads interface {
	PutPushedNAR(ctx context.Context, what string, r io.Reader, check func(narfmt.Hash, uint64) error) (narstore.PutResult, narfmt.Hash, error)
	PutUpload(ctx context.Context, file string, u narstore.Upload) error
	Upload(ctx context.Context, file string) (narstore.Upload, error)
	HoldNAR(ctx context.Context, narHash narfmt.Hash) (release func(), err error)
	PutNarInfo(ctx context.Context, hash string, narHash narfmt.Hash, text []byte) error
	NarInfo(ctx context.Context, hash string) ([]byte, error)
}

var _ Uploads = (*narstore.Store)(nil)

// DefaultMaxUploadSize bounds a pushed NAR file, and the NAR it holds,
// when Options.MaxUploadSize is 0.
const DefaultMaxUploadSize = 32 << 30

// narExts maps the extensions of pushed NAR files to their Compression.
var narExts = map[string]string{".nar": "none", ".nar.xz": "xz", ".nar.zst": "zstd", ".nar.bz2": "bzip2"}

// parseNARFile splits a pushed NAR file name, "<FileHash>.nar.xz", into
// its hash and compression.
func parseNARFile(name string) (narfmt.Hash, string, bool) {
	base, ext, _ := strings.Cut(name, ".")
	comp, ok := narExts["."+ext]
	if !ok {
		return narfmt.Hash{}, "", false
	}
	h, err := narfmt.ParseHash(base)
	return h, comp, err == nil
}

// readAllowed reports whether r may read: the read credentials, or the
// upload ones, since Nix sends one set of credentials for a host.
func (s *Server) readAllowed(r *http.Request) bool {
	return s.auth.allowed(r) || (s.uploadAuth != nil && s.uploadAuth.allowed(r))
}

// serveUpload routes a PUT.
func (s *Server) serveUpload(w http.ResponseWriter, r *http.Request) {
	if !s.uploadAuth.allowed(r) {
		if s.auth != nil && s.auth.allowed(r) {
			s.refuse(w, r, http.StatusForbidden, "these credentials may read, not upload")
			return
		}
		s.uploadAuth.deny(w)
		return
	}
	p := r.URL.Path
	switch {
	case strings.HasSuffix(p, ".narinfo") && strings.Count(p, "/") == 1:
		hash := strings.TrimSuffix(p[1:], ".narinfo")
		if !storepath.IsHash(hash) {
			s.refuse(w, r, http.StatusNotFound, "not a store path hash: "+hash)
			return
		}
		s.putNarInfo(w, r, hash)
	case strings.HasPrefix(p, "/nar/") && strings.Count(p, "/") == 2:
		file := p[len("/nar/"):]
		fileHash, comp, ok := parseNARFile(file)
		if !ok {
			s.refuse(w, r, http.StatusNotFound, "not a NAR file name (want nar/<nixbase32 sha256>.nar[.xz|.zst|.bz2]): "+file)
			return
		}
		s.putNAR(w, r, file, fileHash, comp)
	case s.putExtra(w, r, p):
	default:
		s.refuse(w, r, http.StatusNotFound, "uploads go to nar/<hash>.nar[.xz|.zst|.bz2], <hash>.narinfo, <hash>.ls, log/<drv> and realisations/<id>.doi only")
	}
}

// refuse answers code with why, and logs it.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, code int, why string) {
	s.log.Warn("upload refused", "client", r.RemoteAddr, "path", r.URL.Path, "status", code, "why", why)
	http.Error(w, why, code)
}

// badUpload marks an error that the uploaded data caused.
type badUpload struct{ err error }

func (e badUpload) Error() string { return e.err.Error() }
func (e badUpload) Unwrap() error { return e.err }

// putNAR stores a pushed NAR file and its upload record.
func (s *Server) putNAR(w http.ResponseWriter, r *http.Request, file string, fileHash narfmt.Hash, comp string) {
	ctx := r.Context()
	rcv := receiver{r: http.MaxBytesReader(w, r.Body, s.maxUpload), ctl: http.NewResponseController(w), timeout: s.sendTimeout}
	body := &hashingReader{r: rcv, h: sha256.New()}
	dec, err := decompress.NewReader(ctx, body, comp)
	if err != nil {
		s.refuse(w, r, http.StatusBadRequest, err.Error())
		return
	}
	defer dec.Close()
	nar := &badReader{r: dec, max: s.maxUpload}
	var u narstore.Upload
	check := func(narHash narfmt.Hash, narSize uint64) error {
		// The NAR has ended: so must the file.
		if n, err := io.Copy(io.Discard, nar); err != nil || n > 0 {
			return badUpload{fmt.Errorf("%d bytes after the end of the NAR (%v)", n, err)}
		}
		if _, err := io.Copy(io.Discard, body); err != nil {
			return badUpload{err}
		}
		u = narstore.Upload{NarHash: narHash, NarSize: narSize, FileSize: uint64(body.n)}
		body.h.Sum(u.FileHash[:0])
		if u.FileHash != fileHash {
			return badUpload{fmt.Errorf("file hash is sha256:%s, not the sha256:%s its name says", u.FileHash, fileHash)}
		}
		return nil
	}
	what := "pushed nar/" + file + " from " + r.RemoteAddr
	_, _, err = s.uploads.PutPushedNAR(ctx, what, nar, check)
	if err == nil {
		err = s.uploads.PutUpload(ctx, file, u)
	}
	rcv.moveDeadlines() // for the answer
	var tooBig *http.MaxBytesError
	switch {
	case err == nil:
	case errors.As(err, &tooBig):
		s.refuse(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("%s: larger than %d bytes", what, s.maxUpload))
		return
	case errors.Is(err, narstore.ErrCondemned):
		w.Header().Set("Retry-After", "60")
		s.refuse(w, r, http.StatusServiceUnavailable, err.Error())
		return
	case errors.As(err, new(badUpload)), errors.Is(err, narfmt.ErrInvalid), errors.Is(err, io.ErrUnexpectedEOF):
		s.refuse(w, r, http.StatusBadRequest, err.Error())
		return
	default:
		s.fail(w, r, what, err)
		return
	}
	s.log.Info("NAR pushed", "client", r.RemoteAddr, "file", "nar/"+file, "narhash", "sha256:"+u.NarHash.String(), "narsize", u.NarSize)
	w.WriteHeader(http.StatusOK)
}

// putNarInfo checks a pushed narinfo against the record of its NAR file
// and stores it.
func (s *Server) putNarInfo(w http.ResponseWriter, r *http.Request, hash string) {
	ctx := r.Context()
	what := "narinfo " + hash + " from " + r.RemoteAddr
	text, err := io.ReadAll(http.MaxBytesReader(w, r.Body, narstore.MaxNarInfoSize))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.refuse(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("%s: larger than %d bytes", what, tooBig.Limit))
			return
		}
		s.refuse(w, r, http.StatusBadRequest, fmt.Sprintf("%s: %v", what, err))
		return
	}
	ni, u, err := s.checkNarInfo(ctx, hash, text)
	if err == nil && len(s.requireSigs) > 0 {
		if verr := ni.Verify(s.requireSigs); verr != nil {
			err = badUpload{fmt.Errorf("no valid signature by a required key: %w", verr)}
		}
	}
	if err == nil && s.signKey != nil {
		if serr := ni.Sign(*s.signKey); serr != nil {
			err = badUpload{serr}
		}
		text = []byte(ni.String())
	}
	if err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, narstore.ErrNotFound) {
			code = http.StatusConflict
		} else if !errors.As(err, new(badUpload)) {
			s.fail(w, r, what, err)
			return
		}
		s.refuse(w, r, code, fmt.Sprintf("%s: %v", what, err))
		return
	}
	narHash := u.NarHash
	release, err := s.uploads.HoldNAR(ctx, narHash)
	if err != nil {
		s.fail(w, r, what, err)
		return
	}
	defer release()
	if err := s.uploads.PutNarInfo(ctx, hash, narHash, text); err != nil {
		switch {
		case errors.Is(err, narstore.ErrNotFound):
			s.refuse(w, r, http.StatusConflict, fmt.Sprintf("%s: NAR sha256:%s is no longer stored: push it again", what, narHash))
		case errors.Is(err, narstore.ErrCondemned):
			w.Header().Set("Retry-After", "60")
			s.refuse(w, r, http.StatusServiceUnavailable, err.Error())
		default:
			s.fail(w, r, what, err)
		}
		return
	}
	s.log.Info("narinfo pushed", "client", r.RemoteAddr, "hash", hash, "narhash", "sha256:"+u.NarHash.String())
	w.WriteHeader(http.StatusOK)
}

// checkNarInfo parses a pushed narinfo of store path hash and checks it
// against the upload record of the NAR file its URL names, which it
// returns. Errors the narinfo causes are badUpload; a NAR file never
// pushed wraps narstore.ErrNotFound.
func (s *Server) checkNarInfo(ctx context.Context, hash string, text []byte) (*narinfo.NarInfo, narstore.Upload, error) {
	var u narstore.Upload
	bad := func(format string, args ...any) (*narinfo.NarInfo, narstore.Upload, error) {
		return nil, u, badUpload{fmt.Errorf(format, args...)}
	}
	ni, err := narinfo.ParseStoreDir(bytes.NewReader(text), s.storeDir)
	if err != nil {
		return bad("%v", err)
	}
	if sp, err := storepath.Parse(s.storeDir, ni.StorePath); err != nil || sp.Hash != hash {
		return bad("StorePath %s is not of hash %s", ni.StorePath, hash)
	}
	narHash, err := ni.NarSHA256()
	if err != nil {
		return bad("%v", err)
	}
	file, ok := strings.CutPrefix(ni.URL, "nar/")
	_, comp, ok2 := parseNARFile(file)
	if !ok || !ok2 {
		return bad("URL %q is not nar/<hash>.nar[.xz|.zst|.bz2]", ni.URL)
	}
	if ni.EffectiveCompression() != comp {
		return bad("Compression %s, but URL %s", ni.EffectiveCompression(), ni.URL)
	}
	fh, err := nixhash.Parse(ni.FileHash)
	if err != nil || fh.Algo != nixhash.SHA256 {
		return bad("FileHash %q is not a SHA-256 hash", ni.FileHash)
	}
	u, err = s.uploads.Upload(ctx, file)
	if errors.Is(err, narstore.ErrNotFound) {
		return nil, u, fmt.Errorf("its NAR file %s was never pushed: %w", ni.URL, err)
	}
	if err != nil {
		return nil, u, err
	}
	var mismatch []string
	if u.NarHash != narHash {
		mismatch = append(mismatch, fmt.Sprintf("NarHash sha256:%s", u.NarHash))
	}
	if u.NarSize != ni.NarSize {
		mismatch = append(mismatch, fmt.Sprintf("NarSize %d", u.NarSize))
	}
	if !bytes.Equal(u.FileHash[:], fh.Digest) {
		mismatch = append(mismatch, fmt.Sprintf("FileHash sha256:%s", u.FileHash))
	}
	if u.FileSize != ni.FileSize {
		mismatch = append(mismatch, fmt.Sprintf("FileSize %d", u.FileSize))
	}
	if len(mismatch) > 0 {
		return bad("does not match its pushed NAR file %s, which has %s", ni.URL, strings.Join(mismatch, ", "))
	}
	return ni, u, nil
}

// hashingReader hashes and counts what is read through it.
type hashingReader struct {
	r io.Reader
	h hash.Hash
	n int64
}

func (h *hashingReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	h.n += int64(n)
	return n, err
}

// badReader marks the errors of what a client sent as badUpload, so that
// they are told apart from the repository's, and fails with
// *http.MaxBytesError past max bytes.
type badReader struct {
	r   io.Reader
	n   int64
	max int64
}

func (b *badReader) Read(p []byte) (int, error) {
	if b.n > b.max {
		return 0, &http.MaxBytesError{Limit: b.max}
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	if err != nil && !errors.Is(err, io.EOF) {
		var tooBig *http.MaxBytesError
		if !errors.As(err, &tooBig) {
			err = badUpload{err}
		}
	}
	return n, err
}

// receiver moves the deadlines of an upload before every read, so that a
// big upload may take as long as it needs, beyond the server's ReadTimeout
// and WriteTimeout, while a client that stops sending is cut off after
// timeout.
type receiver struct {
	r       io.Reader
	ctl     *http.ResponseController
	timeout time.Duration
}

func (rc receiver) Read(p []byte) (int, error) {
	rc.moveDeadlines()
	return rc.r.Read(p)
}

func (rc receiver) moveDeadlines() {
	t := time.Now().Add(rc.timeout)
	rc.ctl.SetReadDeadline(t)
	rc.ctl.SetWriteDeadline(t)
}
