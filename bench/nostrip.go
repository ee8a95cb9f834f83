package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/internal/decompress"
	"github.com/nardedup/nardedup/repo/layout"
	"github.com/nardedup/nardedup/source"
)

// one reads the NAR of e once: it stores it uncut in the chunk store and
// returns its size compressed by zstd at the best level.
func (c *comparer) one(ctx context.Context, src source.Source, e entry) (int64, error) {
	f, err := src.Open(ctx, e.URL)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	compression := e.Compression
	if compression == "" {
		compression = "bzip2" // what Nix assumes
	}
	dec, err := decompress.NewReader(ctx, f, compression)
	if err != nil {
		return 0, err
	}
	defer dec.Close()
	var zn counter
	zw, err := zstd.NewWriter(&zn, zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return 0, err
	}
	var recipe bytes.Buffer
	w := c.rp.cs.NewWriter(ctx, func(ref chunkstore.Ref) error { appendRef(&recipe, ref); return nil })
	n, err := io.Copy(io.MultiWriter(zw, w), dec)
	if err == nil && n != e.NarSize {
		err = fmt.Errorf("NAR has %d bytes, NarSize %d", n, e.NarSize)
	}
	if err != nil {
		w.Abort(err)
		w.Close()
		zw.Close()
		return 0, err
	}
	if err := zw.Close(); err != nil {
		return 0, err
	}
	if _, err := w.Close(); err != nil {
		return 0, err
	}
	return int64(zn), c.manifest(ctx, e, recipe.Bytes())
}

// manifest stores the recipe as a chunk stream and a manifest object with
// the recipe's chunk refs, as narstore does for the residue.
func (c *comparer) manifest(ctx context.Context, e entry, recipe []byte) error {
	var m bytes.Buffer
	m.WriteString("BNMF")
	m.Write(binary.AppendUvarint(nil, uint64(e.NarSize)))
	w := c.rp.cs.NewWriter(ctx, func(ref chunkstore.Ref) error { appendRef(&m, ref); return nil })
	if _, err := w.Write(recipe); err != nil {
		w.Close()
		return err
	}
	if _, err := w.Close(); err != nil {
		return err
	}
	_, digest, _ := strings.Cut(e.NarHash, ":")
	key := layout.Key(layout.Manifest, digest)
	if err := c.rp.be.Put(ctx, key, bytes.NewReader(m.Bytes()), int64(m.Len())); err != nil {
		return fmt.Errorf("store %s: %w", key, err)
	}
	return nil
}

// appendRef appends a recipe record: chunk id and uvarint length.
func appendRef(b *bytes.Buffer, ref chunkstore.Ref) {
	b.Write(ref.ID[:])
	b.Write(binary.AppendUvarint(nil, uint64(ref.Size)))
}

// counter counts the bytes written to it.
type counter int64

func (c *counter) Write(p []byte) (int, error) {
	*c += counter(len(p))
	return len(p), nil
}
