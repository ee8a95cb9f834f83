package narstore

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/internal/decompress"
	"github.com/nardedup/nardedup/narfmt/storepath"
	"github.com/nardedup/nardedup/repo/layout"
)

// Build logs and realisations
//
// A binary cache also holds the build logs of derivations (log/<drv>,
// written by `nix store copy-log --to`) and, with the ca-derivations
// feature, realisations (realisations/<id>.doi, JSON). They are kept as
// objects of their own, apart from NARs: a log zstd-compressed (build
// logs are text and shrink several times) unless it is so short that
// compressing does not pay, a realisation as it came.
// Both give back exactly the bytes that were put.

// MaxLogSize bounds a build log, uncompressed.
const MaxLogSize = 256 << 20

// MaxRealisationSize bounds a realisation.
const MaxRealisationSize = 64 << 10

// ErrTooLarge is wrapped when a build log or realisation is larger than
// its bound.
var ErrTooLarge = errors.New("narstore: object too large")

// ErrBadName is wrapped when a build log or realisation name is not one
// Nix writes.
var ErrBadName = errors.New("narstore: invalid name")

// CheckLogName checks that drv is the base name of a derivation's store
// path ("<hash>-<name>.drv"), what a build log is named after.
func CheckLogName(drv string) error {
	p, err := storepath.ParseBase(drv)
	if err == nil && !strings.HasSuffix(p.Name, ".drv") {
		err = errors.New("not a derivation (no .drv)")
	}
	if err != nil {
		return fmt.Errorf("%w: build log %q: %v", ErrBadName, drv, err)
	}
	return nil
}

// CheckRealisationID checks that id is a realisation id as Nix writes it:
// "sha256:<64 hex digits>!<output name>".
func CheckRealisationID(id string) error {
	hash, out, ok := strings.Cut(id, "!")
	hex, ok2 := strings.CutPrefix(hash, "sha256:")
	bad := !ok || !ok2 || len(hex) != 64 || strings.Trim(hex, "0123456789abcdef") != ""
	if !bad {
		if err := storepath.ValidateName(out); err != nil {
			bad = true
		}
	}
	if bad {
		return fmt.Errorf("%w: realisation %q: want sha256:<64 hex digits>!<output name>", ErrBadName, id)
	}
	return nil
}

// CheckRealisation checks a realisation's id and that its text is a JSON
// object of at most MaxRealisationSize bytes.
func CheckRealisation(id string, text []byte) error {
	if err := CheckRealisationID(id); err != nil {
		return err
	}
	if len(text) > MaxRealisationSize {
		return fmt.Errorf("%w: realisation %s: more than %d bytes", ErrTooLarge, id, MaxRealisationSize)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(text, &obj); err != nil {
		return fmt.Errorf("%w: realisation %s is not a JSON object: %v", ErrBadName, id, err)
	}
	return nil
}

// PutLog stores the build log of derivation drv read from r, streaming
// and compressing it, and returns its size. A log larger than MaxLogSize
// is refused with an error wrapping ErrTooLarge; an error reading r
// leaves no object behind, nor an earlier log replaced.
func (s *Store) PutLog(ctx context.Context, drv string, r io.Reader) (int64, error) {
	if err := CheckLogName(drv); err != nil {
		return 0, err
	}
	h := layout.LogOf(drv)
	head := make([]byte, smallLog+1)
	k, err := io.ReadFull(r, head)
	switch {
	case err == io.ErrUnexpectedEOF || err == io.EOF:
		return int64(k), s.putSmallLog(ctx, h, head[:k])
	case err != nil:
		return int64(k), err
	}
	r = io.MultiReader(bytes.NewReader(head), r)
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := s.be.Put(ctx, h.Key(), pr, -1)
		pr.CloseWithError(err)
		done <- err
	}()
	n, err := compressLog(pw, r, drv)
	pw.CloseWithError(err)
	perr := <-done
	if err != nil {
		return n, err
	}
	if perr != nil {
		return n, fmt.Errorf("narstore: write %s: %w", h, perr)
	}
	return n, nil
}

// smallLog is the size up to which a log is read whole, and stored as
// it came when compressing would not make it smaller.
const smallLog = 4 << 10

// zstdMagic starts every zstd frame, so every compressed log: a log kept
// as it came never starts with it (see putSmallLog), and OpenLog tells
// the two apart by it.
var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

// putSmallLog stores a log of at most smallLog bytes, compressed unless
// that does not pay (a one-line log grows by the frame's header).
func (s *Store) putSmallLog(ctx context.Context, h layout.Handle, text []byte) error {
	zw, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		return err
	}
	data := zw.EncodeAll(text, nil)
	if len(text) <= len(data) && !bytes.HasPrefix(text, zstdMagic) {
		data = text
	}
	if err := s.be.Put(ctx, h.Key(), bytes.NewReader(data), int64(len(data))); err != nil {
		return fmt.Errorf("narstore: write %s: %w", h, err)
	}
	return nil
}

// compressLog writes r, zstd-compressed, to w.
func compressLog(w io.Writer, r io.Reader, drv string) (int64, error) {
	zw, err := zstd.NewWriter(w, zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(1<<22))
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(zw, io.LimitReader(r, MaxLogSize+1))
	if err == nil && n > MaxLogSize {
		err = fmt.Errorf("%w: build log %s: more than %d bytes", ErrTooLarge, drv, int64(MaxLogSize))
	}
	if err != nil {
		zw.Close()
		return n, err
	}
	return n, zw.Close()
}

// HasLog reports whether the build log of derivation drv is stored.
func (s *Store) HasLog(ctx context.Context, drv string) (bool, error) {
	return s.exists(ctx, layout.LogOf(drv).Key())
}

// HasRealisation reports whether the realisation with this id is stored.
func (s *Store) HasRealisation(ctx context.Context, id string) (bool, error) {
	return s.exists(ctx, layout.RealisationOf(id).Key())
}

// OpenLog streams the build log of derivation drv. A missing log wraps
// ErrNotFound, a damaged one fails with ErrCorrupt as it is read.
func (s *Store) OpenLog(ctx context.Context, drv string) (io.ReadCloser, error) {
	if err := CheckLogName(drv); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	h := layout.LogOf(drv)
	rc, err := s.be.Get(ctx, h.Key(), 0, -1)
	if errors.Is(err, backend.ErrNotExist) {
		return nil, fmt.Errorf("narstore: %s: %w", h, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("narstore: read %s: %w", h, err)
	}
	br := bufio.NewReader(rc)
	comp := "none"
	if head, _ := br.Peek(len(zstdMagic)); bytes.Equal(head, zstdMagic) {
		comp = "zstd"
	}
	dec, err := decompress.NewReader(ctx, br, comp)
	if err != nil {
		rc.Close()
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, h, err)
	}
	return &logReader{dec: dec, raw: rc, h: h}, nil
}

type logReader struct {
	dec io.ReadCloser
	raw io.Closer
	h   layout.Handle
	n   int64
}

func (l *logReader) Read(p []byte) (int, error) {
	n, err := l.dec.Read(p)
	l.n += int64(n)
	if err == nil && l.n > MaxLogSize {
		err = fmt.Errorf("%w: %s holds more than %d bytes", ErrCorrupt, l.h, int64(MaxLogSize))
	}
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, context.Canceled) && !errors.Is(err, ErrCorrupt) {
		err = fmt.Errorf("%w: %s: %v", ErrCorrupt, l.h, err)
	}
	return n, err
}

func (l *logReader) Close() error {
	l.dec.Close()
	return l.raw.Close()
}

// ListLogs calls fn with the derivation of every stored build log.
func (s *Store) ListLogs(ctx context.Context, fn func(drv string) error) error {
	return s.listNames(ctx, layout.Log, CheckLogName, fn)
}

// PutRealisation stores a realisation after CheckRealisation.
func (s *Store) PutRealisation(ctx context.Context, id string, text []byte) error {
	if err := CheckRealisation(id, text); err != nil {
		return err
	}
	return s.putText(ctx, layout.RealisationOf(id), text)
}

// Realisation returns the text of a stored realisation.
func (s *Store) Realisation(ctx context.Context, id string) ([]byte, error) {
	if err := CheckRealisationID(id); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return s.read(ctx, layout.RealisationOf(id).Key(), MaxRealisationSize)
}

// ListRealisations calls fn with the id of every stored realisation.
func (s *Store) ListRealisations(ctx context.Context, fn func(id string) error) error {
	return s.listNames(ctx, layout.Realisation, CheckRealisationID, fn)
}

// listNames lists the objects of kind t whose names pass check.
func (s *Store) listNames(ctx context.Context, t layout.Type, check func(string) error, fn func(string) error) error {
	return s.listHashes(ctx, t, func(name string) error {
		if check(name) != nil {
			return nil
		}
		return fn(name)
	})
}
