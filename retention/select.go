package retention

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nardedup/nardedup/narfmt/narinfo"
	"github.com/nardedup/nardedup/narfmt/storepath"
	"github.com/nardedup/nardedup/narstore"
	"github.com/nardedup/nardedup/repo/layout"
)

// Rule says which store paths to forget; see the package documentation for
// how its parts combine. At least one part must be set.
type Rule struct {
	// Paths are store paths or store path hashes to forget.
	Paths []string
	// OlderThan selects the narinfos stored before Now minus OlderThan
	// (0: no age rule).
	OlderThan time.Duration
	// KeepRoots, if not nil, are store paths (or hashes) whose closure is
	// kept; everything else is selected. It must not be empty when set.
	KeepRoots []string
	// Now is the time OlderThan counts back from (zero: time.Now()).
	Now time.Time
}

// Path is a store path a rule selected.
type Path struct {
	Hash      string // store path hash part
	StorePath string // "" if its narinfo could not be parsed
	NarSize   int64
	Ingested  time.Time // when its narinfo was stored; zero if unknown
}

// Selection is what a rule selects in a repository.
type Selection struct {
	Paths []Path // the store paths to forget, by hash
	Kept  int    // the narinfos that stay
	// Protected counts the paths Paths or OlderThan selected that stay
	// because they are in the closure of KeepRoots.
	Protected int
	// NotFound lists the entries of Rule.Paths with no narinfo.
	NotFound []string
	// Closure counts the store paths in the closure of KeepRoots that the
	// repository holds.
	Closure int
	// MissingRoots lists the entries of Rule.KeepRoots with no narinfo.
	MissingRoots []string
	// MissingRefs counts the references met in the closure of KeepRoots
	// that the repository does not hold (the walk goes on without them);
	// MissingRefSample names the first few.
	MissingRefs      int
	MissingRefSample []string
}

// NarBytes returns the NarSize summed over the selected paths.
func (s *Selection) NarBytes() int64 {
	var n int64
	for _, p := range s.Paths {
		n += p.NarSize
	}
	return n
}

// missingSample is how many missing references a Selection names.
const missingSample = 5

// jobs is how many narinfos are read or deleted at once.
const jobs = 16

// Select returns what r selects in st, changing nothing.
func Select(ctx context.Context, st *narstore.Store, r Rule) (*Selection, error) {
	storeDir := st.StoreDir()
	if r.Paths == nil && r.OlderThan == 0 && r.KeepRoots == nil {
		return nil, errors.New("retention: no rule: give paths, an age or keep-roots")
	}
	if r.OlderThan < 0 {
		return nil, fmt.Errorf("retention: negative age %v", r.OlderThan)
	}
	if r.KeepRoots != nil && len(r.KeepRoots) == 0 {
		return nil, errors.New("retention: the keep-roots list is empty: it would forget every store path")
	}
	if r.Now.IsZero() {
		r.Now = time.Now()
	}
	wanted, err := hashes(storeDir, "path", r.Paths)
	if err != nil {
		return nil, err
	}
	roots, err := hashes(storeDir, "keep-root", r.KeepRoots)
	if err != nil {
		return nil, err
	}
	sel := &Selection{}
	var closure map[string]bool
	if r.KeepRoots != nil {
		if closure, err = walkClosure(ctx, st, roots, r.KeepRoots, sel); err != nil {
			return nil, err
		}
	}
	cutoff := r.Now.Add(-r.OlderThan)
	seen := make(map[string]bool, len(wanted))
	err = st.ListNarInfosStored(ctx, func(h string, stored time.Time) error {
		_, listed := wanted[h]
		if listed {
			seen[h] = true
		}
		aged := r.OlderThan > 0 && !stored.IsZero() && stored.Before(cutoff)
		kept := closure[h]
		switch {
		case kept:
			sel.Kept++
			if listed || aged {
				sel.Protected++
			}
		case listed || aged || closure != nil:
			sel.Paths = append(sel.Paths, Path{Hash: h, Ingested: stored})
		default:
			sel.Kept++
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("retention: %w", err)
	}
	for _, e := range r.Paths {
		if h := wanted[e]; !seen[h] {
			sel.NotFound = append(sel.NotFound, e)
		}
	}
	slices.SortFunc(sel.Paths, func(a, b Path) int { return strings.Compare(a.Hash, b.Hash) })
	if err := describe(ctx, st, sel.Paths); err != nil {
		return nil, err
	}
	return sel, nil
}

// hashes maps each entry (a store path or hash) to its hash, and each hash
// to itself.
func hashes(storeDir, what string, entries []string) (map[string]string, error) {
	m := make(map[string]string, 2*len(entries))
	for _, e := range entries {
		h, err := entryHash(storeDir, e)
		if err != nil {
			return nil, fmt.Errorf("retention: %s %q: %w", what, e, err)
		}
		m[e], m[h] = h, h
	}
	return m, nil
}

// entryHash returns the hash of a store path in storeDir, or of a bare
// store path hash.
func entryHash(storeDir, e string) (string, error) {
	if strings.HasPrefix(e, "/") {
		p, err := storepath.Parse(storeDir, e)
		if err != nil {
			return "", err
		}
		return p.Hash, nil
	}
	if err := storepath.ValidateHash(e); err != nil {
		return "", fmt.Errorf("neither a store path in %s nor a store path hash: %w", storeDir, err)
	}
	return e, nil
}

// walkClosure returns the closure of roots: every store path hash met,
// true for those st holds. It records what it misses in sel.
//
// The closure is held in memory as a map of hash strings (README.md has
// its size per path, from BenchmarkClosureMemory).
func walkClosure(ctx context.Context, st *narstore.Store, roots map[string]string, entries []string, sel *Selection) (map[string]bool, error) {
	closure := make(map[string]bool)
	var level []string
	for _, e := range entries {
		h := roots[e]
		if _, ok := closure[h]; !ok {
			closure[h] = false
			level = append(level, h)
		}
	}
	first := true
	for len(level) > 0 {
		refs := make([][]string, len(level))
		found := make([]bool, len(level))
		err := parallel(ctx, len(level), func(ctx context.Context, i int) error {
			var err error
			refs[i], found[i], err = references(ctx, st, level[i])
			return err
		})
		if err != nil {
			return nil, err
		}
		var next []string
		for i, h := range level {
			closure[h] = found[i]
			switch {
			case found[i]:
			case first:
				// Reported below by entry, as the operator wrote it.
			default:
				sel.MissingRefs++
				if len(sel.MissingRefSample) < missingSample {
					sel.MissingRefSample = append(sel.MissingRefSample, h)
				}
			}
			for _, ref := range refs[i] {
				if _, ok := closure[ref]; !ok {
					closure[ref] = false
					next = append(next, ref)
				}
			}
		}
		level, first = next, false
	}
	for _, e := range entries {
		if !closure[roots[e]] {
			sel.MissingRoots = append(sel.MissingRoots, e)
		}
	}
	if len(sel.MissingRoots) == len(entries) {
		return nil, fmt.Errorf("retention: none of the %d keep-roots is in the repository (wrong list?); refusing to forget every store path", len(entries))
	}
	for _, held := range closure {
		if held {
			sel.Closure++
		}
	}
	return closure, nil
}

// references returns the hashes of the references of store path hash h,
// and whether st holds h. A narinfo that cannot be read or parsed is an
// error: the paths it references could not be kept.
func references(ctx context.Context, st *narstore.Store, h string) ([]string, bool, error) {
	ni, err := readNarInfo(ctx, st, h)
	if errors.Is(err, narstore.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("retention: in the closure of the keep-roots: %w (forget it with a paths list, or repair it, first)", err)
	}
	refs := make([]string, 0, len(ni.References))
	for _, ref := range ni.References {
		refs = append(refs, ref[:storepath.HashLen]) // narinfo.Parse checked the base name
	}
	return refs, true, nil
}

// readNarInfo reads and parses the narinfo of store path hash h, checking
// that it describes that store path. An error about the narinfo's content
// is a *parseError.
func readNarInfo(ctx context.Context, st *narstore.Store, h string) (*narinfo.NarInfo, error) {
	text, err := st.NarInfo(ctx, h)
	if err != nil {
		return nil, err
	}
	dir := st.StoreDir()
	ni, err := narinfo.ParseStoreDir(bytes.NewReader(text), dir)
	if err == nil {
		var p storepath.Path
		if p, err = storepath.Parse(dir, ni.StorePath); err == nil && p.Hash != h {
			err = fmt.Errorf("%w: StorePath %s is not the path of hash %s", narstore.ErrCorrupt, ni.StorePath, h)
		}
	}
	if err != nil {
		return nil, &parseError{fmt.Errorf("%s: %w", layout.NarInfoOf(h).Key(), err)}
	}
	return ni, nil
}

// describe fills in the store path and NarSize of each path from its
// narinfo. A narinfo that cannot be parsed leaves them empty (forgetting is
// one way to be rid of it); one that vanished meanwhile too.
func describe(ctx context.Context, st *narstore.Store, paths []Path) error {
	return parallel(ctx, len(paths), func(ctx context.Context, i int) error {
		ni, err := readNarInfo(ctx, st, paths[i].Hash)
		switch {
		case err == nil:
			paths[i].StorePath, paths[i].NarSize = ni.StorePath, int64(ni.NarSize)
		case errors.Is(err, narstore.ErrNotFound), errors.Is(err, narstore.ErrCorrupt), isParseError(err):
		default:
			return fmt.Errorf("retention: %w", err)
		}
		return nil
	})
}

// isParseError reports whether err is about a narinfo's content rather
// than about reading it.
func isParseError(err error) bool {
	var pe *parseError
	return errors.As(err, &pe)
}

// parseError is a narinfo that was read but is not a valid narinfo of its
// store path.
type parseError struct{ err error }

func (e *parseError) Error() string { return e.err.Error() }
func (e *parseError) Unwrap() error { return e.err }

// parallel calls fn for 0 to n-1 on up to jobs goroutines and returns the
// first error, after which it starts no more calls.
func parallel(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	for w := 0; w < min(jobs, n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(ctx, i); err != nil {
					once.Do(func() { firstErr = err; cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}
