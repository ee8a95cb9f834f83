package proxy

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"

	"github.com/nardedup/nardedup/internal/countio"
	"github.com/nardedup/nardedup/internal/decompress"
	"github.com/nardedup/nardedup/narfmt"
	"github.com/nardedup/nardedup/narfmt/narinfo"
	"github.com/nardedup/nardedup/narfmt/nixhash"
	"github.com/nardedup/nardedup/remote"
)

// DefaultMaxPassThrough is Options.MaxPassThrough when not set.
const DefaultMaxPassThrough = 64 << 30

// maxExpected bounds the narinfos remembered for the NARs they name; the
// memory is dropped whole when full (Nix asks for a NAR right after its
// narinfo).
const maxExpected = 1 << 16

// sum is a SHA-256 and the length of what it hashes (0: unknown).
type sum struct {
	hash narfmt.Hash
	size uint64
}

// expect is what a file passed through must be: its own SHA-256, or the
// NAR's once decompressed, or both.
type expect struct {
	file        *sum
	nar         *sum
	compression string // of the file, for nar
}

// expectations remembers what the narinfos passed through say of their
// NARs, by URL path.
type expectations struct {
	mu sync.Mutex
	m  map[string]expect
}

func (e *expectations) put(urlPath string, x expect) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.m == nil || len(e.m) >= maxExpected {
		e.m = make(map[string]expect)
	}
	e.m[urlPath] = x
}

func (e *expectations) get(urlPath string) (expect, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[urlPath]
	return x, ok
}

// expectOf returns what the narinfo says of the file at its URL.
func expectOf(ni *narinfo.NarInfo) (expect, error) {
	narHash, err := ni.NarSHA256()
	if err != nil {
		return expect{}, err
	}
	x := expect{nar: &sum{narHash, ni.NarSize}, compression: ni.EffectiveCompression()}
	if ni.FileHash != "" {
		h, err := nixhash.Parse(ni.FileHash)
		if err != nil || h.Algo != nixhash.SHA256 {
			return expect{}, fmt.Errorf("narinfo %s: FileHash %q: want SHA-256", ni.StorePath, ni.FileHash)
		}
		x.file = &sum{hash: narfmt.Hash(h.Digest), size: ni.FileSize}
	}
	return x, nil
}

// expectOfName returns what the file nar/<hash>.nar[.<ext>] must be when
// no narinfo named it (the proxy restarted, Nix remembered the narinfo):
// by the convention of Nix's binary caches the hash is that of the file.
func expectOfName(name string) (expect, bool) {
	base, ok := strings.CutPrefix(name, "nar/")
	if !ok || strings.Contains(base, "/") {
		return expect{}, false
	}
	h, _, ok := strings.Cut(base, ".nar")
	fileHash, err := narfmt.ParseHash(h)
	if !ok || err != nil {
		return expect{}, false
	}
	return expect{file: &sum{hash: fileHash}}, true
}

// passThrough streams the upstream's file at name to w unchanged,
// checking it against x before its last byte goes out: a wrong,
// truncated or overlong file is cut short, never served whole.
func (p *Proxy) passThrough(w http.ResponseWriter, r *http.Request, what, name string, x expect) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	rc, err := p.up.Open(ctx, name)
	if err != nil {
		p.fail(w, r, what, err)
		return
	}
	defer rc.Close()
	ck, err := newChecker(ctx, x, p.maxPass)
	if err != nil {
		p.fail(w, r, what, err)
		return
	}
	defer ck.close()
	h := w.Header()
	h.Set("Content-Type", "application/x-nix-nar")
	if size := ck.size(); size > 0 {
		h.Set("Content-Length", strconv.FormatUint(size, 10))
	}
	if r.Method == http.MethodHead {
		return
	}
	cw := &countio.Writer{W: w}
	err = holdBack(cw, rc, ck)
	p.passed.Add(ck.n)
	p.served.Add(cw.N)
	if err == nil {
		return
	}
	p.failAfter(w, r, what, cw.N, fmt.Errorf("upstream %s: %s: %w", p.up, what, err))
}

// holdBack copies r to w, each piece once ck has seen it, and the last
// piece only once ck.finish has accepted the whole.
func holdBack(w io.Writer, r io.Reader, ck *checker) error {
	bufs := [2][]byte{make([]byte, 64<<10), make([]byte, 64<<10)}
	var held []byte
	for i := 0; ; i ^= 1 {
		n, err := io.ReadFull(r, bufs[i])
		if n > 0 {
			if _, werr := ck.Write(bufs[i][:n]); werr != nil {
				return werr
			}
			if len(held) > 0 {
				if _, werr := w.Write(held); werr != nil {
					return werr
				}
			}
			held = bufs[i][:n]
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("after %d bytes: %w", ck.n, err)
		}
	}
	if err := ck.finish(); err != nil {
		return err
	}
	_, err := w.Write(held)
	return err
}

// checker hashes a file as it passes, and the NAR decompressed from it
// when x names the NAR.
type checker struct {
	x    expect
	n    int64 // file bytes seen
	max  int64 // bound of the file and the NAR when no size is known
	file hash.Hash
	pw   *io.PipeWriter // to the decompressor; nil without x.nar
	done chan error     // the decompressor's verdict
}

func newChecker(ctx context.Context, x expect, max int64) (*checker, error) {
	ck := &checker{x: x, max: max, file: sha256.New()}
	if x.nar == nil {
		return ck, nil
	}
	pr, pw := io.Pipe()
	dr, err := decompress.NewReader(ctx, pr, x.compression)
	if err != nil {
		return nil, err
	}
	ck.pw, ck.done = pw, make(chan error, 1)
	go func() {
		defer dr.Close()
		h := sha256.New()
		limit := max
		if x.nar.size > 0 {
			limit = int64(x.nar.size) + 1
		}
		n, err := io.Copy(h, io.LimitReader(dr, limit))
		if err == nil {
			err = check("NAR", x.nar, h, n)
		}
		// Unblock the writer: the rest of the file is not read.
		pr.CloseWithError(errors.Join(err, errors.New("NAR ended")))
		ck.done <- err
	}()
	return ck, nil
}

// size returns the file's size if known.
func (ck *checker) size() uint64 {
	switch {
	case ck.x.file != nil && ck.x.file.size > 0:
		return ck.x.file.size
	case ck.x.nar != nil && ck.x.compression == "none":
		return ck.x.nar.size
	}
	return 0
}

func (ck *checker) Write(b []byte) (int, error) {
	ck.n += int64(len(b))
	max := ck.max
	if size := ck.size(); size > 0 {
		max = int64(size)
	}
	if ck.n > max {
		return 0, fmt.Errorf("%w: longer than %d bytes", remote.ErrCorrupt, max)
	}
	ck.file.Write(b)
	if ck.pw != nil {
		if _, err := ck.pw.Write(b); err != nil {
			return 0, ck.verdict(err)
		}
	}
	return len(b), nil
}

// verdict returns the decompressor's error, which explains a failed write
// to it.
func (ck *checker) verdict(err error) error {
	if derr := <-ck.done; derr != nil {
		ck.done <- derr
		return derr
	}
	ck.done <- nil
	return fmt.Errorf("%w: data after the end of the NAR (%v)", remote.ErrCorrupt, err)
}

// finish checks the whole file.
func (ck *checker) finish() error {
	if ck.x.file != nil {
		if err := check("file", ck.x.file, ck.file, ck.n); err != nil {
			return err
		}
	}
	if ck.pw == nil {
		return nil
	}
	ck.pw.Close()
	err := <-ck.done
	ck.done <- err
	return err
}

// close stops the decompressor.
func (ck *checker) close() {
	if ck.pw != nil {
		ck.pw.CloseWithError(errors.New("pass-through ended"))
	}
}

// check compares what h hashed, n bytes, with s.
func check(what string, s *sum, h hash.Hash, n int64) error {
	if s.size > 0 && uint64(n) != s.size {
		return fmt.Errorf("%w: %s of %d bytes, want %d", remote.ErrCorrupt, what, n, s.size)
	}
	if got := narfmt.Hash(h.Sum(nil)); got != s.hash {
		return fmt.Errorf("%w: %s hash sha256:%s, want sha256:%s", remote.ErrCorrupt, what, got, s.hash)
	}
	return nil
}

// isPassThroughPath reports whether the request path may name a NAR file
// of an upstream that is not nardedup.
func isPassThroughPath(p string) bool {
	return strings.HasPrefix(p, "/nar/") && path.Clean(p) == p && !strings.Contains(p[len("/nar/"):], "/")
}
