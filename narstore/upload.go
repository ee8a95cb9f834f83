package narstore

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/nardedup/nardedup/narfmt"
	"github.com/nardedup/nardedup/repo/layout"
)

// Nix pushes a NAR file before its narinfo, so the NarHash of a pushed NAR
// is learnt as it is read, and whether a narinfo will ever name it only
// later. PutPushedNAR stores such a NAR up to its manifest; an upload
// record, uploads/<file name>, says what the file held until its narinfo
// comes (PutNarInfo then makes the path visible). A manifest whose narinfo
// never comes is garbage that gc collects after its grace period, and so
// is an upload record: not when its narinfo is written, since a
// concurrent push of the same file may still need the record.

// Upload is the record of a pushed NAR file: the NAR it held and the file
// as it was sent.
type Upload struct {
	NarHash  narfmt.Hash // SHA-256 of the NAR
	NarSize  uint64
	FileHash narfmt.Hash // SHA-256 of the file, compressed or not
	FileSize uint64
}

// PutPushedNAR reads a NAR whose NarHash is not known in advance and
// stores it: its chunks, then its manifest, but no narinfo. Once the NAR
// is read, check is called with its SHA-256 and size; an error from it
// rejects the NAR. PutPushedNAR returns once the manifest is durable (it
// flushes the open pack), with the NAR's SHA-256. A NAR whose manifest a
// running garbage collection condemned is refused with an error wrapping
// ErrCondemned. what names the NAR in errors.
func (s *Store) PutPushedNAR(ctx context.Context, what string, r io.Reader, check func(narHash narfmt.Hash, narSize uint64) error) (PutResult, narfmt.Hash, error) {
	release := s.cs.Lease().Hold()
	defer release()
	check2 := func(sum narfmt.Hash, size uint64) error {
		if key := layout.ManifestOf(sum).Key(); s.cs.Lease().IsCondemned(key) {
			return fmt.Errorf("%s: %s: %w", what, key, ErrCondemned)
		}
		return check(sum, size)
	}
	errc := make(chan error, 1)
	none := func(context.Context) error { return nil }
	res, sum, err := s.store(ctx, what, r, check2, none, func(err error) { errc <- err })
	if err != nil {
		return res, sum, err
	}
	if err := s.cs.Flush(ctx); err != nil {
		return res, sum, fmt.Errorf("%s: %w", what, err)
	}
	select {
	case err = <-errc:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		return res, sum, fmt.Errorf("%s: %w", what, err)
	}
	return res, sum, nil
}

// PutUpload stores the upload record of a pushed NAR file, named as under
// nar/ in a narinfo URL ("<FileHash>.nar.xz").
func (s *Store) PutUpload(ctx context.Context, file string, u Upload) error {
	return s.putText(ctx, layout.UploadOf(file), u.encode())
}

// Upload returns the upload record of a pushed NAR file, or an error
// wrapping ErrNotFound when there is none.
func (s *Store) Upload(ctx context.Context, file string) (Upload, error) {
	h := layout.UploadOf(file)
	data, err := s.read(ctx, h.Key(), MaxNarInfoSize)
	if err != nil {
		return Upload{}, err
	}
	u, err := decodeUpload(data)
	if err != nil {
		return u, fmt.Errorf("%w: %s: %v", ErrCorrupt, h, err)
	}
	return u, nil
}

// DeleteUpload deletes the upload record of a pushed NAR file. It returns
// an error wrapping ErrNotFound when there is none.
func (s *Store) DeleteUpload(ctx context.Context, file string) error {
	return s.delete(ctx, layout.UploadOf(file).Key())
}

// encode writes the record in narinfo style, a "Key: value" line each.
func (u Upload) encode() []byte {
	return fmt.Appendf(nil, "NarHash: sha256:%s\nNarSize: %d\nFileHash: sha256:%s\nFileSize: %d\n",
		u.NarHash.String(), u.NarSize, u.FileHash.String(), u.FileSize)
}

func decodeUpload(data []byte) (Upload, error) {
	var u Upload
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 4 || !bytes.HasSuffix(data, []byte("\n")) {
		return u, fmt.Errorf("want 4 lines, got %q", data)
	}
	var err error
	for i, f := range []struct {
		key  string
		hash *narfmt.Hash
		size *uint64
	}{{"NarHash", &u.NarHash, nil}, {"NarSize", nil, &u.NarSize}, {"FileHash", &u.FileHash, nil}, {"FileSize", nil, &u.FileSize}} {
		v, ok := strings.CutPrefix(lines[i], f.key+": ")
		if !ok {
			return u, fmt.Errorf("line %d: want %s", i+1, f.key)
		}
		if f.hash != nil {
			b32, ok := strings.CutPrefix(v, "sha256:")
			if !ok {
				return u, fmt.Errorf("line %d: %s is not SHA-256", i+1, f.key)
			}
			*f.hash, err = narfmt.ParseHash(b32)
		} else {
			*f.size, err = strconv.ParseUint(v, 10, 64)
		}
		if err != nil {
			return u, fmt.Errorf("line %d: %v", i+1, err)
		}
	}
	return u, nil
}
