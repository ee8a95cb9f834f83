package ingest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/nardedup/nardedup/internal/decompress"
	"github.com/nardedup/nardedup/narstore"
	"github.com/nardedup/nardedup/source"
)

// Build logs and realisations
//
// After the store paths, a run copies the build logs (log/<drv>) and
// realisations (realisations/<id>.doi) of a source that can list them
// (source.Extras: a directory or an S3 bucket); one already in the
// repository is skipped. An HTTP cache cannot list them, and
// Stats.ExtrasUnlisted says so. Nix writes them to an S3 cache with
// log-compression (and the like) as the object's Content-Encoding, which
// Nix undoes when it reads them; a bucket read here gives the encoded
// bytes, so an object that starts as an xz, zstd or bzip2 stream is
// decompressed first (brotli, which has no magic number, is not).

// extras copies the source's build logs and realisations.
func (r *run) extras(ctx context.Context) error {
	src, ok := r.src.(source.Extras)
	if !ok {
		r.add(func(s *Stats) { s.ExtrasUnlisted = true })
		return nil
	}
	err := src.ListLogs(ctx, func(drv string) error {
		r.extra(ctx, "log/"+drv, func(ctx context.Context) (bool, error) { return r.putLog(ctx, drv) },
			func(s *Stats) { s.Logs++ })
		return ctx.Err()
	})
	if err == nil {
		err = src.ListRealisations(ctx, func(id string) error {
			r.extra(ctx, "realisations/"+id+".doi", func(ctx context.Context) (bool, error) { return r.putRealisation(ctx, id) },
				func(s *Stats) { s.Realisations++ })
			return ctx.Err()
		})
	}
	if err != nil {
		return fmt.Errorf("ingest: list build logs and realisations of %s: %w", r.src, err)
	}
	return nil
}

// extra copies one object with put and counts it with count if put
// stored it, or records it as failed under its name.
func (r *run) extra(ctx context.Context, name string, put func(context.Context) (bool, error), count func(*Stats)) {
	stored, err := put(ctx)
	switch {
	case err != nil:
		r.failCtx(ctx, name, err)
	case stored:
		r.succeed(count)
	}
}

func (r *run) putLog(ctx context.Context, drv string) (bool, error) {
	if err := narstore.CheckLogName(drv); err != nil {
		return false, err
	}
	if ok, err := r.st.HasLog(ctx, drv); err != nil || ok {
		return false, err
	}
	rc, err := r.openExtra(ctx, "log/"+drv)
	if err != nil {
		return false, err
	}
	defer rc.Close()
	n, err := r.st.PutLog(ctx, drv, rc)
	if err != nil {
		return false, fmt.Errorf("%s log/%s: %w", r.src, drv, err)
	}
	r.add(func(s *Stats) { s.LogBytes += n })
	return true, nil
}

func (r *run) putRealisation(ctx context.Context, id string) (bool, error) {
	if err := narstore.CheckRealisationID(id); err != nil {
		return false, err
	}
	if ok, err := r.st.HasRealisation(ctx, id); err != nil || ok {
		return false, err
	}
	name := "realisations/" + id + ".doi"
	rc, err := r.openExtra(ctx, name)
	if err != nil {
		return false, err
	}
	defer rc.Close()
	text, err := io.ReadAll(io.LimitReader(rc, narstore.MaxRealisationSize+1))
	if err == nil {
		err = r.st.PutRealisation(ctx, id, text)
	}
	if err != nil {
		return false, fmt.Errorf("%s %s: %w", r.src, name, err)
	}
	return true, nil
}

// openExtra opens the object name of the source, decompressed if it is
// an xz, zstd or bzip2 stream (see above).
func (r *run) openExtra(ctx context.Context, name string) (io.ReadCloser, error) {
	rc, err := r.src.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReader(rc)
	head, _ := br.Peek(6)
	dec, err := decompress.NewReader(ctx, br, sniff(head))
	if err != nil {
		rc.Close()
		return nil, err
	}
	return readCloser{Reader: dec, close: func() error { dec.Close(); return rc.Close() }}, nil
}

// sniff names the compression of a stream starting with head.
func sniff(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte("\xfd7zXZ\x00")):
		return "xz"
	case bytes.HasPrefix(head, []byte("\x28\xb5\x2f\xfd")):
		return "zstd"
	case len(head) >= 4 && bytes.HasPrefix(head, []byte("BZh")) && head[3] >= '1' && head[3] <= '9':
		return "bzip2"
	}
	return "none"
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r readCloser) Close() error { return r.close() }
