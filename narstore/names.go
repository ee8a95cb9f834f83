package narstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/narfmt"
	"github.com/nardedup/nardedup/narfmt/narinfo"
	"github.com/nardedup/nardedup/repo/layout"
)

// storedNAR is a NAR a names object lists, and when it was stored.
type storedNAR struct {
	hash   narfmt.Hash
	stored time.Time
}

// OfferNamed offers the chunk store's candidates (chunkstore.Store.
// AddCandidates) the chunks of the newest max NARs stored under package
// name (NAR.Name), with their locations: one LIST of the name's names
// objects, then a manifest and its recipe read a NAR. NARs no longer
// stored, or whose manifests carry no locations, are passed over. It
// returns how many NARs it offered.
func (s *Store) OfferNamed(ctx context.Context, name string, max int) (int, error) {
	hashes, err := s.newestOfName(ctx, name, max)
	if err != nil {
		return 0, err
	}
	return s.offerChunks(ctx, hashes)
}

// newestOfName returns the NarHashes of the newest max NARs stored under
// package name, newest first.
func (s *Store) newestOfName(ctx context.Context, name string, max int) ([]narfmt.Hash, error) {
	var newest []storedNAR // at most max, newest first
	prefix := layout.NamesPrefix(name)
	err := s.be.List(ctx, prefix, func(fi backend.Info) error {
		h, err := narfmt.ParseHash(strings.TrimPrefix(fi.Key, prefix))
		if err != nil {
			return nil // not a names object
		}
		i, _ := slices.BinarySearchFunc(newest, fi.ModTime, func(n storedNAR, t time.Time) int { return t.Compare(n.stored) })
		if i < max {
			newest = slices.Insert(newest, i, storedNAR{h, fi.ModTime})
			newest = newest[:min(len(newest), max)]
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("narstore: list %s: %w", prefix, err)
	}
	hashes := make([]narfmt.Hash, len(newest))
	for i, n := range newest {
		hashes[i] = n.hash
	}
	return hashes, nil
}

// offerChunks offers every chunk of the NARs with these hashes. A NAR
// whose manifest or recipe is gone or damaged is passed over: candidates
// only save space.
func (s *Store) offerChunks(ctx context.Context, hashes []narfmt.Hash) (int, error) {
	n := 0
	for _, h := range hashes {
		m, err := s.manifest(ctx, h)
		if errors.Is(err, ErrNotFound) {
			continue // forgotten and collected since its names object was listed
		}
		if err != nil {
			return n, err
		}
		if m.Locations == nil {
			continue
		}
		err = s.offerManifest(ctx, m)
		if errors.Is(err, chunkstore.ErrNotFound) || errors.Is(err, backend.ErrNotExist) ||
			errors.Is(err, ErrCorrupt) || errors.Is(err, chunkstore.ErrCorrupt) {
			continue // collected or damaged since: no candidates, nothing wrong stored
		}
		if err != nil {
			return n, fmt.Errorf("narstore: candidates from NAR sha256:%s: %w", h.String(), err)
		}
		n++
	}
	return n, nil
}

func (s *Store) offerManifest(ctx context.Context, m *Manifest) error {
	offer := func(next func() (chunkstore.Ref, chunkstore.Location, error)) error {
		return s.cs.AddCandidates(ctx, func() (chunkstore.ID, chunkstore.Location, error) {
			ref, loc, err := next()
			return ref.ID, loc, err
		})
	}
	if err := offer(s.locate(m, SectionRecipe, listRefs(m.Recipe))); err != nil {
		return err
	}
	if err := offer(s.locate(m, SectionPositions, listRefs(m.Positions))); err != nil {
		return err
	}
	next, done := s.residueRefs(ctx, m)
	defer done()
	return offer(s.locate(m, SectionResidue, next))
}

// AddName writes the names object of the NAR that the narinfo of store
// path hash links, if it lacks one, and reports whether it wrote it. It is
// for NARs stored before every writer recorded names objects. A narinfo
// deleted meanwhile is an error wrapping ErrNotFound; one whose store path
// or NarHash does not parse is an error naming it.
func (s *Store) AddName(ctx context.Context, hash string) (bool, error) {
	text, err := s.NarInfo(ctx, hash)
	if err != nil {
		return false, err
	}
	ni, err := narinfo.Parse(bytes.NewReader(text))
	if err != nil {
		return false, fmt.Errorf("narstore: %s: %w", layout.NarInfoOf(hash).Key(), err)
	}
	narHash, err := ni.NarSHA256()
	if err != nil {
		return false, fmt.Errorf("narstore: %s: %w", layout.NarInfoOf(hash).Key(), err)
	}
	name := packageName(text)
	if name == "" {
		return false, fmt.Errorf("narstore: %s: no package name in StorePath %q", layout.NarInfoOf(hash).Key(), ni.StorePath)
	}
	key := layout.NameOf(name, narHash).Key()
	switch _, err := s.be.Stat(ctx, key); {
	case err == nil:
		return false, nil
	case !errors.Is(err, backend.ErrNotExist):
		return false, fmt.Errorf("narstore: stat %s: %w", key, err)
	}
	return true, s.putName(ctx, name, narHash)
}
