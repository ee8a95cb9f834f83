package forward

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/pack"
	"github.com/nardedup/nardedup/repo/layout"
)

// Key returns the backend key of the forward record of pack p.
func Key(p pack.ID) string { return layout.Key(layout.Forward, p.String()) }

// Put stores rec unless a record of its pack is stored already: records
// never change, and a collection that resumes after a crash finds the one
// it wrote before.
func Put(ctx context.Context, be backend.Backend, rec *Record) error {
	key := Key(rec.Pack)
	if _, err := be.Stat(ctx, key); err == nil {
		return nil
	} else if !errors.Is(err, backend.ErrNotExist) {
		return fmt.Errorf("forward: stat %s on %s: %w", key, be, err)
	}
	data, err := rec.Encode()
	if err != nil {
		return err
	}
	if err := backend.PutBytes(ctx, be, key, data); err != nil {
		return fmt.Errorf("forward: store %s on %s: %w", key, be, err)
	}
	return nil
}

// Get reads the forward record of pack p. Its error wraps
// backend.ErrNotExist when there is none.
func Get(ctx context.Context, be backend.Backend, p pack.ID) (*Record, error) {
	key := Key(p)
	rc, err := be.Get(ctx, key, 0, -1)
	if err != nil {
		return nil, fmt.Errorf("forward: read %s on %s: %w", key, be, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, int64(MaxSize)+1))
	if err != nil {
		return nil, fmt.Errorf("forward: read %s on %s: %w", key, be, err)
	}
	rec, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("%s on %s: %w", key, be, err)
	}
	if rec.Pack != p {
		return nil, fmt.Errorf("%w: %s on %s: the record of pack %s", ErrCorrupt, key, be, rec.Pack)
	}
	return rec, nil
}
