package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/repo"
	"github.com/nardedup/nardedup/repo/layout"
	"github.com/nardedup/nardedup/source"
)

// FollowOptions configure Follow.
type FollowOptions struct {
	Options // of every pass; Options.Drain also ends Follow
	// Every is the wait between the end of a pass and the start of the
	// next.
	Every time.Duration
	// Cursor names the cursor in the repository: CursorID of the source,
	// the list file and the shard.
	Cursor string
	// List, if set, is the file the store paths to ingest are read from,
	// again at every pass (see source.ReadList): a file of store paths
	// that only grows, or an S3 Inventory manifest.json whose keys are
	// taken under Prefix. Without it the source must be source.Dated.
	List, Prefix string
	// Slack is how far before the newest narinfo seen a narinfo may still
	// appear: 0 means DefaultSlack.
	Slack time.Duration
	// Pass, if set, is called after every pass.
	Pass func(Pass)
	// Logf, if set, is given the warnings (a cursor that is started over).
	Logf func(format string, args ...any)
}

// DefaultSlack is the default of FollowOptions.Slack.
const DefaultSlack = 15 * time.Minute

// Pass is what one pass of Follow did.
type Pass struct {
	N       int       // 1 for the first pass
	Start   time.Time // when it began
	Listed  int       // narinfos the source listed, or the list file's new lines named
	New     int       // of those, not passed over by the cursor: ingested
	Stats   *Stats    // of the ingest of the new ones; nil without any
	Elapsed time.Duration
	Err     error // why the pass ended early or failed; the cursor stays where it was
}

// CursorID returns the name of the cursor of a source, as given on the
// command line, a list file ("" without one) and a shard: one a source
// and shard, so that each process of a sharded run keeps its own.
func CursorID(src, list string, shard Shard) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%s", src, list, shardName(shard)))
	return hex.EncodeToString(sum[:16])
}

// shardName names a shard in a cursor: "" for every store path.
func shardName(s Shard) string {
	if s.all() {
		return ""
	}
	return s.String()
}

// cursor is where Follow has come to in a source: the object
// cursors/<id> (see doc.go, "Following a source").
type cursor struct {
	Version int    `json:"version"`
	Source  string `json:"source"`
	List    string `json:"list,omitempty"`
	Shard   string `json:"shard,omitempty"`
	// A dated source: the latest time a narinfo was written, and the
	// narinfos written less than the slack before it that are done.
	Mark time.Time `json:"mark,omitzero"`
	Seen []string  `json:"seen,omitempty"`
	// A list file: how many bytes of it are read, and their SHA-256 (of
	// the whole file for an S3 Inventory manifest).
	Offset int64  `json:"offset,omitempty"`
	Sum    string `json:"sum,omitempty"`
	// Store paths that failed, tried again at every pass.
	Retry []string `json:"retry,omitempty"`
}

const cursorVersion = 1

// Follow ingests src into rp, then every opts.Every what appeared in it
// since, until ctx ends (it returns ctx's error) or opts.Drain is closed
// (it returns nil once the NARs in flight are stored). After each pass
// that went to its end it stores, in the cursor opts.Cursor, how far it
// read, so that the next pass, and a Follow started later, reads only
// what is new. A pass that fails is reported to opts.Pass and tried
// again after opts.Every from where the cursor was.
func Follow(ctx context.Context, src source.Source, rp *repo.Repo, opts FollowOptions) error {
	if opts.Slack <= 0 {
		opts.Slack = DefaultSlack
	}
	if opts.Cursor == "" {
		return errors.New("ingest: follow: no cursor name")
	}
	dated, isDated := src.(source.Dated)
	if opts.List == "" && !isDated {
		return fmt.Errorf("ingest: follow: %s cannot tell what is new: give a list of store paths", src)
	}
	f := &follower{src: src, dated: dated, rp: rp, opts: opts, logf: opts.Logf}
	if f.logf == nil {
		f.logf = func(string, ...any) {}
	}
	cur, err := f.load(ctx)
	if err != nil {
		return err
	}
	for n := 1; ; n++ {
		p := f.pass(ctx, n, cur)
		if opts.Pass != nil {
			opts.Pass(p)
		}
		if p.Stats != nil && p.Stats.Drained {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-opts.Drain:
			return nil
		case <-time.After(opts.Every):
		}
	}
}

type follower struct {
	src   source.Source
	dated source.Dated
	rp    *repo.Repo
	opts  FollowOptions
	logf  func(string, ...any)
	saved []byte // the cursor as last read or written
}

func (f *follower) handle() layout.Handle { return layout.CursorOf(f.opts.Cursor) }

// load reads the cursor. A missing cursor is an empty one; so is one that
// does not parse or belongs to another source, with a warning: the
// repository, not the cursor, says what is stored, so starting over costs
// one pass that checks every store path, and refusing would stop the
// follower until someone deleted the object. A cursor the backend cannot
// read is an error.
func (f *follower) load(ctx context.Context) (*cursor, error) {
	fresh := &cursor{Version: cursorVersion, Source: f.src.String(), List: f.opts.List, Shard: shardName(f.opts.Shard)}
	h := f.handle()
	r, err := f.rp.Backend().Get(ctx, h.Key(), 0, -1)
	if errors.Is(err, backend.ErrNotExist) {
		return fresh, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ingest: follow: reading cursor %s: %w", h, err)
	}
	defer r.Close()
	var c cursor
	data, err := io.ReadAll(io.LimitReader(r, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("ingest: follow: reading cursor %s: %w", h, err)
	}
	switch err := json.Unmarshal(data, &c); {
	case err != nil:
		f.logf("warning: cursor %s does not parse (%v): reading %s from the start", h, err, f.src)
	case c.Version != cursorVersion:
		f.logf("warning: cursor %s has version %d, not %d: reading %s from the start", h, c.Version, cursorVersion, f.src)
	case c.Source != fresh.Source || c.List != fresh.List || c.Shard != fresh.Shard:
		f.logf("warning: cursor %s is of %s (list %q, shard %s), not of this run: reading %s from the start",
			h, c.Source, c.List, c.Shard, f.src)
	default:
		f.saved = data
		return &c, nil
	}
	return fresh, nil
}

func (f *follower) save(ctx context.Context, c *cursor) error {
	data, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if bytes.Equal(data, f.saved) {
		return nil // a pass that found nothing new writes nothing
	}
	if err := f.rp.Backend().Put(ctx, f.handle().Key(), bytes.NewReader(data), int64(len(data))); err != nil {
		return fmt.Errorf("ingest: follow: writing cursor %s: %w", f.handle(), err)
	}
	f.saved = data
	return nil
}

// pass lists what is new past cur, ingests it and, if the pass went to
// its end, moves cur on and stores it.
func (f *follower) pass(ctx context.Context, n int, cur *cursor) (p Pass) {
	p = Pass{N: n, Start: time.Now()}
	defer func() { p.Elapsed = time.Since(p.Start) }()
	var (
		fresh []string
		next  *cursor
	)
	if f.opts.List != "" {
		fresh, next, p.Err = f.listFile(cur, &p)
	} else {
		fresh, next, p.Err = f.listDated(ctx, cur, &p)
	}
	if p.Err != nil {
		return p
	}
	p.New = len(fresh)
	var failed []string
	if len(fresh) > 0 {
		src, err := source.WithHashes(f.src, fresh)
		if err != nil {
			p.Err = err
			return p
		}
		p.Stats, p.Err = runPass(ctx, src, f.rp, f.opts.Options)
		if p.Err != nil || p.Stats.Drained || p.Stats.Interrupted {
			return p // the cursor stays: the next run does this pass again
		}
		for _, fl := range p.Stats.Failures {
			failed = append(failed, fl.Hash)
		}
		slices.Sort(failed)
		next.Seen = slices.DeleteFunc(next.Seen, func(h string) bool { return contains(failed, h) })
	}
	next.Retry = failed
	if err := f.save(ctx, next); err != nil {
		p.Err = err
		return p
	}
	*cur = *next
	return p
}

// listDated lists a dated source and returns the narinfos that cur does
// not pass over, and the cursor past them: its mark is the latest time
// a narinfo was written, and it keeps the narinfos written within the
// slack before it (see doc.go).
func (f *follower) listDated(ctx context.Context, cur *cursor, p *Pass) ([]string, *cursor, error) {
	next := *cur
	next.Offset, next.Sum = 0, ""
	type entry struct {
		hash    string
		written time.Time
	}
	var all []entry
	err := f.dated.ListDated(ctx, func(h string, t time.Time) error {
		all = append(all, entry{h, t})
		if t.After(next.Mark) {
			next.Mark = t
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("ingest: list %s: %w", f.src, err)
	}
	p.Listed = len(all)
	var fresh []string
	before := cur.Mark.Add(-f.opts.Slack)
	for _, e := range all {
		if cur.Mark.IsZero() || contains(cur.Retry, e.hash) ||
			e.written.After(before) && !contains(cur.Seen, e.hash) {
			fresh = append(fresh, e.hash)
		}
	}
	next.Seen = nil
	since := next.Mark.Add(-f.opts.Slack)
	for _, e := range all {
		if e.written.After(since) {
			next.Seen = append(next.Seen, e.hash)
		}
	}
	return fresh, &next, nil // listed sorted, so Seen is sorted
}

// contains reports whether the sorted hashes hold h.
func contains(hashes []string, h string) bool {
	_, ok := slices.BinarySearch(hashes, h)
	return ok
}

// listFile reads the list file and returns the store paths that cur does
// not pass over, and the cursor past them. A file of store paths is read
// from cur.Offset if its first cur.Offset bytes are still those read, and
// up to its last complete line; an S3 Inventory manifest is read whole if
// it changed.
func (f *follower) listFile(cur *cursor, p *Pass) ([]string, *cursor, error) {
	name := f.opts.List
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, nil, fmt.Errorf("ingest: follow: %w", err)
	}
	next := *cur
	next.Mark, next.Seen = time.Time{}, nil
	var fresh []string
	if isJSON(data) {
		sum := sha256.Sum256(data)
		next.Offset, next.Sum = 0, hex.EncodeToString(sum[:])
		if next.Sum != cur.Sum {
			if fresh, err = source.ReadList(name, f.opts.Prefix); err != nil {
				return nil, nil, err
			}
		}
		p.Listed = len(fresh)
	} else {
		if cur.Offset > 0 {
			sum := sha256.Sum256(data[:min(cur.Offset, int64(len(data)))])
			if cur.Offset > int64(len(data)) || hex.EncodeToString(sum[:]) != cur.Sum {
				f.logf("warning: %s is not what cursor %s read (it shrank or was rewritten): reading it from the start", name, f.handle())
				next.Offset = 0
			}
		}
		end := int64(bytes.LastIndexByte(data, '\n') + 1) // a line still being written waits
		end = max(end, next.Offset)
		if fresh, err = source.ListFrom(bytes.NewReader(data[next.Offset:end])); err != nil {
			return nil, nil, fmt.Errorf("%s: after byte %d: %w", name, next.Offset, err)
		}
		p.Listed = len(fresh)
		sum := sha256.Sum256(data[:end])
		next.Offset, next.Sum = end, hex.EncodeToString(sum[:])
	}
	fresh = append(fresh, cur.Retry...)
	slices.Sort(fresh)
	return slices.Compact(fresh), &next, nil
}

// isJSON reports whether the first byte of data that is not white space
// is '{': an S3 Inventory manifest.
func isJSON(data []byte) bool {
	t := bytes.TrimLeft(data, " \t\r\n")
	return len(t) > 0 && t[0] == '{'
}
