package mirror

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/lease"
	"github.com/nardedup/nardedup/narfmt"
	"github.com/nardedup/nardedup/narfmt/narinfo"
	"github.com/nardedup/nardedup/narfmt/storepath"
	"github.com/nardedup/nardedup/narstore"
	"github.com/nardedup/nardedup/remote"
	"github.com/nardedup/nardedup/repo"
)

// Defaults of Options.
const (
	DefaultBatch      = 64
	DefaultBatchBytes = 1 << 30
)

// Options configure a Mirror.
type Options struct {
	// From is the URL of the remote nardedup server; credentials in it
	// go out as basic auth.
	From string
	// Token, if not empty, goes to the remote as a bearer token.
	Token string
	// HTTPClient makes the requests (nil: source.HTTPClient()).
	HTTPClient *http.Client
	// IdleTimeout and SmallTimeout bound the remote's answers (see
	// remote.Options).
	IdleTimeout, SmallTimeout time.Duration
	// Paths, if not nil, are the store paths (or store path hashes) whose
	// closure is mirrored; nil mirrors every narinfo of the remote.
	Paths []string
	// Batch and BatchBytes bound the NARs (and their NarSize) stored
	// before they are checked and their narinfos written together
	// (DefaultBatch, DefaultBatchBytes).
	Batch      int
	BatchBytes int64
	Logger     *slog.Logger // nil: slog.Default()
}

// Stats count what a Mirror did.
type Stats struct {
	Seen     int64 // narinfos of the remote looked at
	Held     int64 // already held by the mirror
	Mirrored int64 // narinfos written
	NARs     int64 // NARs fetched and stored
	Resumed  int64 // NARs already stored: by a former run, or for another store path
	NarBytes int64 // NarSize of the NARs fetched
	Failed   int64 // store paths that failed
	Remote   remote.Stats
}

// Mirror keeps a repository a copy of a remote one.
type Mirror struct {
	c    *remote.Client
	rp   *repo.Repo
	opts Options
	log  *slog.Logger

	seen, held, mirrored, nars, resumed, narBytes, failed atomic.Int64
}

// NewClient returns the client of opts.From.
func NewClient(opts Options) (*remote.Client, error) {
	return remote.New(opts.From, remote.Options{HTTPClient: opts.HTTPClient, Token: opts.Token,
		IdleTimeout: opts.IdleTimeout, SmallTimeout: opts.SmallTimeout})
}

// Create makes a repository on be for a mirror of the remote c: of the
// remote's store directory, store path cutting and chunking (the
// default chunking when the remote does not say), so that the mirror
// cuts NARs into the chunks the remote's manifests name.
func Create(ctx context.Context, be backend.Backend, c *remote.Client) error {
	info, err := c.Info(ctx)
	if err != nil {
		return fmt.Errorf("mirror: %w", err)
	}
	cfg := repo.DefaultConfig()
	cfg.NARs.StoreDir, cfg.NARs.Strip = info.StoreDir, info.Strip
	if info.Chunker != nil {
		cfg.Chunks.Chunker = *info.Chunker
	}
	if err := cfg.Chunks.Validate(); err != nil {
		return fmt.Errorf("mirror: %s: info: %w", c, err)
	}
	if err := cfg.NARs.Validate(); err != nil {
		return fmt.Errorf("mirror: %s: info: %w", c, err)
	}
	if _, err := repo.Create(ctx, be, cfg); err != nil {
		return fmt.Errorf("mirror: %w", err)
	}
	return nil
}

// New returns a Mirror that copies the remote of opts.From into rp,
// which must cut store paths as the remote does.
func New(ctx context.Context, rp *repo.Repo, opts Options) (*Mirror, error) {
	opts.Logger = cmp.Or(opts.Logger, slog.Default())
	opts.Batch = cmp.Or(max(opts.Batch, 0), DefaultBatch)
	opts.BatchBytes = cmp.Or(max(opts.BatchBytes, 0), DefaultBatchBytes)
	c, err := NewClient(opts)
	if err != nil {
		return nil, fmt.Errorf("mirror: %w", err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("mirror: %w", err)
	}
	cfg := rp.Config()
	if info.StoreDir != cfg.NARs.StoreDir || info.Strip != cfg.NARs.Strip {
		return nil, fmt.Errorf("mirror: %s has store directory %s and strip %q, the repository %s and %q",
			c, info.StoreDir, info.Strip, cfg.NARs.StoreDir, cfg.NARs.Strip)
	}
	if info.Chunker != nil && *info.Chunker != cfg.Chunks.Chunker {
		opts.Logger.Warn("the remote cuts chunks otherwise than this repository: every chunk is fetched",
			"remote", c.String())
	}
	return &Mirror{c: c, rp: rp, opts: opts, log: opts.Logger}, nil
}

// Remote returns the remote's URL without its password.
func (m *Mirror) Remote() string { return m.c.String() }

// Stats returns what the mirror did so far.
func (m *Mirror) Stats() Stats {
	return Stats{Seen: m.seen.Load(), Held: m.held.Load(), Mirrored: m.mirrored.Load(), NARs: m.nars.Load(),
		Resumed: m.resumed.Load(), NarBytes: m.narBytes.Load(), Failed: m.failed.Load(), Remote: m.c.Stats()}
}

// Follow runs Sync, then again every interval, until ctx is done. A pass
// that fails is logged and the next one tried; Follow returns nil when
// ctx is done, after the pass under way stopped.
func (m *Mirror) Follow(ctx context.Context, interval time.Duration) error {
	for {
		if err := m.Sync(ctx); err != nil && ctx.Err() == nil {
			m.log.Error("mirror pass failed", "remote", m.c.String(), "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}

// Sync makes one pass: every narinfo of the remote (or of the closure of
// Options.Paths) that the mirror lacks is mirrored. It returns an error
// when a store path failed or the remote could not be listed; the store
// paths that failed are logged, each naming its object, and the others
// mirrored all the same.
func (m *Mirror) Sync(ctx context.Context) error {
	ss, err := m.rp.Chunks().StartSession(ctx, lease.SessionOptions{Kind: "mirror"})
	if err != nil {
		return fmt.Errorf("mirror: %w", err)
	}
	p := &pass{m: m, ctx: ctx}
	if m.opts.Paths != nil {
		err = p.closure()
	} else {
		err = p.all()
	}
	if ferr := p.finish(); err == nil {
		err = ferr
	}
	if cerr := ss.Close(context.WithoutCancel(ctx)); err == nil {
		err = cerr
	}
	if err == nil && p.failed > 0 {
		err = fmt.Errorf("mirror: %d store paths failed (see the log), the first: %w", p.failed, p.first)
	}
	return err
}

// pass is one Sync: the batch of NARs stored and not yet checked.
type pass struct {
	m      *Mirror
	ctx    context.Context
	batch  []*pending
	bytes  int64
	failed int
	first  error
	// held, when not nil, are the narinfos the mirror held when the
	// pass began: one listing instead of a request per remote narinfo.
	held map[string]bool
}

// pending is a narinfo whose NAR is being stored.
type pending struct {
	hash    string
	narHash narfmt.Hash
	text    []byte
	done    chan error // nil when the NAR was stored by a former run
}

// all mirrors every narinfo of the remote, a page at a time.
func (p *pass) all() error {
	p.held = make(map[string]bool)
	if err := p.m.rp.NARs().ListNarInfos(p.ctx, func(h string) error {
		p.held[h] = true
		return nil
	}); err != nil {
		return fmt.Errorf("mirror: %w", err)
	}
	after := ""
	for {
		hashes, more, err := p.m.c.NarInfos(p.ctx, after, 0)
		if err != nil {
			return fmt.Errorf("mirror: %w", err)
		}
		for _, h := range hashes {
			if err := p.path(h, nil); err != nil {
				return err
			}
		}
		if !more {
			return nil
		}
		after = hashes[len(hashes)-1]
	}
}

// closure mirrors the store paths of Options.Paths and every path they
// refer to, directly or not.
func (p *pass) closure() error {
	storeDir := p.m.rp.Config().NARs.StoreDir
	var queue []string
	seen := make(map[string]bool)
	add := func(hash string) {
		if !seen[hash] {
			seen[hash] = true
			queue = append(queue, hash)
		}
	}
	for _, e := range p.m.opts.Paths {
		if storepath.IsHash(e) {
			add(e)
			continue
		}
		sp, err := storepath.Parse(storeDir, e)
		if err != nil {
			return fmt.Errorf("mirror: %w", err)
		}
		add(sp.Hash)
	}
	for len(queue) > 0 {
		h := queue[0]
		queue = queue[1:]
		var ni *narinfo.NarInfo
		err := p.path(h, func(n *narinfo.NarInfo) { ni = n })
		if err != nil {
			return err
		}
		if ni == nil {
			continue
		}
		for _, ref := range ni.References {
			sp, err := storepath.ParseBase(ref)
			if err != nil {
				continue // the narinfo parsed, so its references did
			}
			add(sp.Hash)
		}
	}
	return nil
}

// path mirrors the narinfo of store path hash unless the mirror holds it,
// and gives it, parsed, to refs (if not nil). It returns an error only
// when the pass must stop; a store path that fails is counted.
func (p *pass) path(hash string, refs func(*narinfo.NarInfo)) error {
	if err := p.ctx.Err(); err != nil {
		return err
	}
	m, st := p.m, p.m.rp.NARs()
	m.seen.Add(1)
	var text []byte
	var held bool
	var err error
	if p.held != nil {
		held = p.held[hash]
	} else {
		held, err = st.HasNarInfo(p.ctx, hash)
	}
	if err == nil && held {
		m.held.Add(1)
		if refs == nil {
			return nil
		}
		text, err = st.NarInfo(p.ctx, hash)
	} else if err == nil {
		text, err = m.c.NarInfo(p.ctx, hash)
	}
	var ni *narinfo.NarInfo
	if err == nil {
		ni, err = p.parse(hash, text)
	}
	if err == nil && refs != nil {
		refs(ni)
	}
	if err == nil && !held {
		err = p.store(hash, text, ni)
	}
	if err != nil {
		return p.fail(err)
	}
	return nil
}

// parse parses the narinfo text of store path hash, checking that it is
// that store path's.
func (p *pass) parse(hash string, text []byte) (*narinfo.NarInfo, error) {
	storeDir := p.m.rp.Config().NARs.StoreDir
	ni, err := narinfo.ParseStoreDir(bytes.NewReader(text), storeDir)
	if err != nil {
		return nil, fmt.Errorf("%w: mirror: %s: narinfo %s: %w", remote.ErrCorrupt, p.m.c, hash, err)
	}
	if sp, err := storepath.Parse(storeDir, ni.StorePath); err != nil || sp.Hash != hash {
		return nil, fmt.Errorf("%w: mirror: %s: narinfo %s is that of %s", remote.ErrCorrupt, p.m.c, hash, ni.StorePath)
	}
	if _, err := ni.NarSHA256(); err != nil {
		return nil, fmt.Errorf("%w: mirror: %s: narinfo %s: %w", remote.ErrCorrupt, p.m.c, hash, err)
	}
	return ni, nil
}

// fail counts a store path that failed; it stops the pass only when ctx
// is done.
func (p *pass) fail(err error) error {
	if p.ctx.Err() != nil {
		return p.ctx.Err()
	}
	p.m.failed.Add(1)
	p.failed++
	if p.first == nil {
		p.first = err
	}
	p.m.log.Error("store path not mirrored", "remote", p.m.c.String(), "err", err)
	return nil
}

// store stores the NAR of a narinfo, unless a former run did, and adds
// it to the batch.
func (p *pass) store(hash string, text []byte, ni *narinfo.NarInfo) error {
	m, st := p.m, p.m.rp.NARs()
	narHash, _ := ni.NarSHA256()
	pd := &pending{hash: hash, narHash: narHash, text: text}
	has, err := st.HasManifest(p.ctx, narHash)
	if err != nil {
		return err
	}
	if has {
		m.resumed.Add(1)
	} else {
		man, err := m.c.Manifest(p.ctx, narHash)
		if err != nil {
			return err
		}
		if man.NarSize != ni.NarSize {
			return fmt.Errorf("%w: mirror: %s: manifest %s says NarSize %d, narinfo %s %d",
				remote.ErrCorrupt, m.c, narHash.String(), man.NarSize, hash, ni.NarSize)
		}
		var name string
		if sp, err := storepath.Parse(m.rp.Config().NARs.StoreDir, ni.StorePath); err == nil {
			name = storepath.PackageName(sp.Name)
		}
		pd.done = make(chan error, 1)
		pr, pw := io.Pipe()
		fetched := make(chan error, 1)
		go func() {
			err := m.c.Fetch(p.ctx, man, pw, p.have, nil)
			pw.CloseWithError(cmpErr(err, io.EOF))
			fetched <- err
		}()
		n := narstore.NAR{Hash: hash, NarHash: narHash, NarSize: ni.NarSize, Name: name}
		_, err = st.PutNAR(p.ctx, n, pr, func(err error) { pd.done <- err })
		pr.CloseWithError(errNotRead)
		if ferr := <-fetched; ferr != nil && !errors.Is(ferr, errNotRead) {
			// The reason PutNAR failed, naming the remote's object.
			return fmt.Errorf("mirror: store path %s: %w", hash, ferr)
		}
		if err != nil {
			return fmt.Errorf("mirror: %s: NAR %s of %s: %w", m.c, narHash.String(), hash, err)
		}
		m.nars.Add(1)
		m.narBytes.Add(int64(ni.NarSize))
		p.bytes += int64(ni.NarSize)
	}
	p.batch = append(p.batch, pd)
	if len(p.batch) >= m.opts.Batch || p.bytes >= m.opts.BatchBytes {
		return p.finish()
	}
	return nil
}

// errNotRead stops a NAR's download when storing it failed.
var errNotRead = errors.New("mirror: NAR not read to its end")

// cmpErr returns err, or def if err is nil.
func cmpErr(err, def error) error {
	if err == nil {
		return def
	}
	return err
}

// have returns the bytes of a chunk the mirror holds, as its local index
// says (a miss does not wait for the index to be synced again, as
// chunkstore.Store.Lookup would: most chunks looked up are new).
func (p *pass) have(id chunkstore.ID) ([]byte, bool) {
	cs := p.m.rp.Chunks()
	var locs []chunkstore.Location
	if err := cs.Locations(id, func(loc chunkstore.Location) error {
		locs = append(locs, loc)
		return nil
	}); err != nil {
		return nil, false
	}
	for _, loc := range locs {
		// A located reader goes through the store's frame cache: the
		// chunks of a NAR held lie mostly in a few frames, decoded once.
		sent := false
		rc := cs.NewLocatedReader(p.ctx, func() (chunkstore.Ref, chunkstore.Location, error) {
			if sent {
				return chunkstore.Ref{}, chunkstore.Location{}, io.EOF
			}
			sent = true
			return chunkstore.Ref{ID: id, Size: loc.Length}, loc, nil
		})
		data, err := io.ReadAll(rc)
		rc.Close()
		if err == nil {
			return data, true
		}
	}
	return nil, false
}

// finish makes the batch's chunks and manifests durable, then checks
// each NAR as the mirror rebuilds it from its own store against its
// NarHash and only then writes its narinfo.
func (p *pass) finish() error {
	batch := p.batch
	p.batch, p.bytes = nil, 0
	if len(batch) == 0 {
		return nil
	}
	m, st := p.m, p.m.rp.NARs()
	ctx := context.WithoutCancel(p.ctx) // what is stored is made visible
	if err := m.rp.Chunks().Flush(ctx); err != nil {
		return fmt.Errorf("mirror: %w", err)
	}
	for _, pd := range batch {
		if pd.done != nil {
			if err := <-pd.done; err != nil {
				p.fail(fmt.Errorf("mirror: NAR %s of %s: %w", pd.narHash.String(), pd.hash, err))
				continue
			}
		}
		if err := p.check(pd); err != nil {
			p.fail(err)
			continue
		}
		if err := st.PutNarInfo(ctx, pd.hash, pd.narHash, pd.text); err != nil {
			p.fail(fmt.Errorf("mirror: %w", err))
			continue
		}
		m.mirrored.Add(1)
	}
	return nil
}

// check rebuilds the NAR of pd from the mirror's store and checks it
// against its NarHash (narstore.Store.Open does).
func (p *pass) check(pd *pending) error {
	rc, _, err := p.m.rp.NARs().Open(p.ctx, pd.narHash)
	if err == nil {
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
	}
	if err != nil {
		return fmt.Errorf("mirror: NAR %s of %s as stored: %w", pd.narHash.String(), pd.hash, err)
	}
	return nil
}
