package chunkstore

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/pack"
	"github.com/nardedup/nardedup/repo/layout"
)

// RebuildResult is what Rebuild indexed.
type RebuildResult struct {
	Packs, Chunks int
	Rewritten     int // index objects rewritten from their packs
	Damaged       []string
}

// Rebuild deletes the local index at opts.IndexPath and builds it anew from
// the repository: from the index objects, or, with fromPacks, from every
// pack's own table of contents, rewriting index objects that are missing or
// differ. A pack whose table cannot be read is listed in Damaged and left
// out of the index.
func Rebuild(ctx context.Context, be backend.Backend, cfg Config, opts Options, fromPacks bool) (*RebuildResult, error) {
	if err := os.Remove(opts.IndexPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("chunkstore: remove local index: %w", err)
	}
	if !fromPacks {
		s, err := Open(ctx, be, cfg, opts)
		if err != nil {
			return nil, err
		}
		res := &RebuildResult{}
		res.Packs, res.Chunks, err = s.idx.Stats()
		if cerr := s.Close(); err == nil {
			err = cerr
		}
		return res, err
	}
	s, err := Open(ctx, hideIndex{be}, cfg, opts)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	res := &RebuildResult{}
	err = layout.List(ctx, be, layout.Pack, func(name string, _ backend.Info) error {
		id, err := ParseID(name)
		if err != nil {
			return nil
		}
		return s.reindexPack(ctx, id, res)
	})
	if err != nil {
		return res, err
	}
	res.Packs, res.Chunks, err = s.idx.Stats()
	return res, err
}

func (s *Store) reindexPack(ctx context.Context, id ID, res *RebuildResult) error {
	toc, err := s.ReadTOC(ctx, id)
	if errors.Is(err, ErrCorrupt) {
		res.Damaged = append(res.Damaged, fmt.Sprintf("pack %s: %v", id, err))
		return nil
	}
	if err != nil {
		return err
	}
	enc := toc.Encode()
	if old, err := s.rd.readObject(ctx, IndexKey(id), 0, -1, pack.MaxTOCSize); err != nil || string(old) != string(enc) {
		if err := backend.PutBytes(ctx, s.be, IndexKey(id), enc); err != nil {
			return s.wrap("rewrite index object", err)
		}
		res.Rewritten++
	}
	return s.idx.AddPack(id, toc)
}

// hideIndex hides the index objects of a backend from List, so that Open
// starts with an empty local index.
type hideIndex struct{ backend.Backend }

func (e hideIndex) List(ctx context.Context, prefix string, fn func(backend.Info) error) error {
	if prefix == layout.Index.Prefix() {
		return nil
	}
	return e.Backend.List(ctx, prefix, fn)
}
