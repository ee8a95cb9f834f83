// Package admin implements the operations on a whole repository that an
// operator runs: statistics, verification and export to a plain binary
// cache.
package admin

import (
	"bytes"
	"context"
	"fmt"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/cost"
	"github.com/nardedup/nardedup/narfmt/narinfo"
	"github.com/nardedup/nardedup/narfmt/storepath"
	"github.com/nardedup/nardedup/narstore"
	"github.com/nardedup/nardedup/repo"
	"github.com/nardedup/nardedup/repo/layout"
)

// Objects counts the objects of one kind in a repository.
type Objects struct {
	Count int
	Bytes int64
}

// Stats describes what a repository holds.
type Stats struct {
	Objects     map[string]Objects // by kind (layout.Type.String): packs, index, manifests, narinfo, config, …
	StoredBytes int64              // all objects
	NarInfos    int
	NarBytes    int64 // sum of NarSize over the narinfos
	FileBytes   int64 // sum of the upstream FileSize over the narinfos
	UniqueNARs  int   // distinct NarHashes
	UniqueBytes int64 // NarSize summed over distinct NarHashes
}

// Summarize says what the repository holds: it lists every object and
// reads every narinfo.
func Summarize(ctx context.Context, rp *repo.Repo) (*Stats, error) {
	s := &Stats{Objects: make(map[string]Objects)}
	be, st := rp.Backend(), rp.NARs()
	err := be.List(ctx, "", func(fi backend.Info) error {
		kind := "other" // not an object of the repository's layout
		if h, err := layout.Parse(fi.Key); err == nil {
			kind = h.Type.String()
		}
		o := s.Objects[kind]
		o.Count++
		o.Bytes += fi.Size
		s.Objects[kind] = o
		s.StoredBytes += fi.Size
		return nil
	})
	if err != nil {
		return nil, err
	}
	seen := make(map[string]bool)
	err = eachNarInfo(ctx, st, func(h string, ni *narinfo.NarInfo, err error) error {
		if err != nil {
			return err
		}
		s.NarInfos++
		s.NarBytes += int64(ni.NarSize)
		s.FileBytes += int64(ni.FileSize)
		if !seen[ni.NarHash] {
			seen[ni.NarHash] = true
			s.UniqueNARs++
			s.UniqueBytes += int64(ni.NarSize)
		}
		return nil
	})
	return s, err
}

// eachNarInfo calls fn for every stored narinfo, parsed (or with the error
// that kept it from being read or parsed).
func eachNarInfo(ctx context.Context, st *narstore.Store, fn func(string, *narinfo.NarInfo, error) error) error {
	dir := st.StoreDir()
	return st.ListNarInfos(ctx, func(h string) error {
		text, err := st.NarInfo(ctx, h)
		if err != nil {
			return fn(h, nil, err)
		}
		ni, err := narinfo.ParseStoreDir(bytes.NewReader(text), dir)
		if err == nil {
			err = checkStorePath(ni, dir, h)
		}
		if err != nil {
			return fn(h, nil, fmt.Errorf("%s: %w", layout.NarInfoOf(h).Key(), err))
		}
		return fn(h, ni, nil)
	})
}

// checkStorePath checks that a narinfo stored under store path hash h
// describes that store path.
func checkStorePath(ni *narinfo.NarInfo, dir, h string) error {
	p, err := storepath.Parse(dir, ni.StorePath)
	if err != nil {
		return err
	}
	if p.Hash != h {
		return fmt.Errorf("%w: StorePath %s is not the path of hash %s", narstore.ErrCorrupt, ni.StorePath, h)
	}
	return nil
}

// Measured is what the repository measures for pricing it: its objects,
// and the source's nar.xz files from the narinfos' FileSize (NAR files
// and narinfos, one NAR file per distinct NarHash). The GETs per NAR
// served are not known here.
func (s *Stats) Measured() cost.Measured {
	m := cost.Measured{NARs: int64(s.NarInfos), NarBytes: s.NarBytes, SourceBytes: s.FileBytes,
		SourceObjects: int64(s.NarInfos + s.UniqueNARs), StoredBytes: s.StoredBytes}
	for _, o := range s.Objects {
		m.StoredObjects += int64(o.Count)
	}
	return m
}
