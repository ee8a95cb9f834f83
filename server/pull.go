package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/nardedup/nardedup/ingest"
	"github.com/nardedup/nardedup/narfmt"
	"github.com/nardedup/nardedup/narfmt/narinfo"
	"github.com/nardedup/nardedup/narfmt/signature"
	"github.com/nardedup/nardedup/narfmt/storepath"
	"github.com/nardedup/nardedup/narstore"
	"github.com/nardedup/nardedup/source"
)

// Pull-through
//
// With Options.Pull, a narinfo the repository lacks is asked of the
// upstream caches in turn, and the first that has it (with a valid
// signature by one of Pull.PublicKeys, if any are given) answers; it is
// served rewritten like a stored one. Misses of every upstream are
// remembered for Pull.NegativeTTL.
//
// Its NAR, when asked, is fetched once however many clients ask at once:
// the first request starts the pull, which reads the upstream file,
// checks it as ingest does (FileHash, FileSize, NarSize, NarHash),
// decompresses it and stores it into the repository, while spooling the
// NAR to an unlinked temporary file. Every client of the NAR reads the
// spool at its own pace, as the bytes arrive: the pull does not wait for
// any client, a client that leaves does not stop it, and memory stays flat
// in NAR size (the disk holds the NAR until its last reader is done). A
// client that reads too slowly is cut off by the usual send timeout and
// minimum rate. The last byte of the NAR is handed out only once its
// NarHash and NarSize have matched, so a NAR that fails them is cut short
// for every client, and nothing of it is committed. One that matches is
// committed: manifest, then the narinfo as the upstream sent it, Sig lines
// kept.

// Pull configures pull-through serving.
type Pull struct {
	// Upstreams are asked, in order, for what the repository lacks.
	Upstreams []source.Source
	// Store is where pulled NARs and narinfos are written.
	// *narstore.Store implements it.
	Store PullStore
	// Flush makes the NARs stored so far durable and commits them
	// (chunkstore.Store.Flush); it is called after each pulled NAR.
	Flush func(context.Context) error
	// PublicKeys, if not empty, admits only upstream narinfos with a
	// valid signature by one of these keys.
	PublicKeys []signature.PublicKey
	// NegativeTTL is how long a store path that no upstream has is
	// answered 404 without asking again; 0 means not at all.
	NegativeTTL time.Duration
	// SpoolDir holds the spool files of NARs being pulled ("": the
	// system's temporary directory).
	SpoolDir string
}

// PullStore is what a Server writes pulled NARs through.
type PullStore interface {
	PutNAR(ctx context.Context, n narstore.NAR, r io.Reader, done func(error)) (narstore.PutResult, error)
	HoldNAR(ctx context.Context, narHash narfmt.Hash) (release func(), err error)
	Manifest(ctx context.Context, narHash narfmt.Hash) (*narstore.Manifest, error)
	PutNarInfo(ctx context.Context, hash string, narHash narfmt.Hash, text []byte) error
}

var _ PullStore = (*narstore.Store)(nil)

// PullStats are the counters of pull-through serving.
type PullStats struct {
	// Requests counts the requests to each upstream (by its String) by
	// what was asked (narinfo, nar) and the result (hit, miss, refused,
	// error for a narinfo; ok, failed for a NAR).
	Requests     map[UpstreamRequest]int64
	NARs         int64 // NARs pulled, checked and stored
	Bytes        int64 // file bytes read from the upstreams for NARs
	HashFailures int64 // NARs that did not match their narinfo
}

// UpstreamRequest labels one kind of upstream request.
type UpstreamRequest struct{ Upstream, Object, Result string }

// Bounds of what a puller remembers of the narinfos it served.
const (
	pulledTTL = 30 * time.Minute
	maxPulled = 1 << 14
	maxMisses = 1 << 16
)

// puller serves what the repository lacks from the upstreams.
type puller struct {
	cfg      Pull
	storeDir string
	log      *slog.Logger

	mu       sync.Mutex
	byHash   map[string]*pulledInfo // served from an upstream, not yet stored
	byNAR    map[narfmt.Hash]*pulledInfo
	misses   map[string]time.Time // store path hash: remembered until
	lookups  map[string]*lookup   // narinfo requests to the upstreams in flight
	inflight map[narfmt.Hash]*pull
	stats    PullStats
}

// pulledInfo is an upstream narinfo served but not yet stored.
type pulledInfo struct {
	hash    string
	text    []byte
	ni      *narinfo.NarInfo
	narHash narfmt.Hash
	src     source.Source
	at      time.Time
}

// lookup is one store path being asked of the upstreams; its result is
// shared by the requests that come meanwhile.
type lookup struct {
	done chan struct{}
	info *pulledInfo // nil: no upstream has it
	err  error
}

func newPuller(cfg Pull, storeDir string, log *slog.Logger) *puller {
	return &puller{cfg: cfg, storeDir: storeDir, log: log,
		byHash: make(map[string]*pulledInfo), byNAR: make(map[narfmt.Hash]*pulledInfo),
		misses: make(map[string]time.Time), lookups: make(map[string]*lookup),
		inflight: make(map[narfmt.Hash]*pull), stats: PullStats{Requests: make(map[UpstreamRequest]int64)}}
}

// Stats returns a copy of the counters.
func (p *puller) Stats() PullStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.Requests = make(map[UpstreamRequest]int64, len(p.stats.Requests))
	for k, v := range p.stats.Requests {
		s.Requests[k] = v
	}
	return s
}

func (p *puller) count(src source.Source, object, result string) {
	p.mu.Lock()
	p.stats.Requests[UpstreamRequest{src.String(), object, result}]++
	p.mu.Unlock()
}

// PullStats returns the counters of pull-through serving (all zero
// without Options.Pull).
func (s *Server) PullStats() PullStats {
	if s.pull == nil {
		return PullStats{}
	}
	return s.pull.Stats()
}

// narInfo returns the upstream narinfo of store path hash, asking the
// upstreams unless it was served or missed lately. A store path that no
// upstream has wraps narstore.ErrNotFound.
func (p *puller) narInfo(ctx context.Context, hash string) (*pulledInfo, error) {
	p.mu.Lock()
	if info := p.byHash[hash]; info != nil && time.Since(info.at) < pulledTTL {
		p.mu.Unlock()
		return info, nil
	}
	if until, ok := p.misses[hash]; ok {
		if time.Now().Before(until) {
			p.mu.Unlock()
			return nil, fmt.Errorf("store path %s: no upstream has it (remembered): %w", hash, narstore.ErrNotFound)
		}
		delete(p.misses, hash)
	}
	l := p.lookups[hash]
	if l == nil {
		l = &lookup{done: make(chan struct{})}
		p.lookups[hash] = l
		p.mu.Unlock()
		l.info, l.err = p.ask(context.WithoutCancel(ctx), hash)
		p.mu.Lock()
		delete(p.lookups, hash)
		close(l.done)
	}
	p.mu.Unlock()
	select {
	case <-l.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if l.err != nil {
		return nil, l.err
	}
	if l.info == nil {
		return nil, fmt.Errorf("store path %s: no upstream has it: %w", hash, narstore.ErrNotFound)
	}
	return l.info, nil
}

// ask asks the upstreams in turn for the narinfo of store path hash and
// remembers what it learns. It returns nil, nil if none has it.
func (p *puller) ask(ctx context.Context, hash string) (*pulledInfo, error) {
	failed := false
	for _, src := range p.cfg.Upstreams {
		text, err := src.NarInfo(ctx, hash)
		if errors.Is(err, source.ErrNotFound) {
			p.count(src, "narinfo", "miss")
			continue
		}
		if err != nil {
			p.count(src, "narinfo", "error")
			p.log.Error("upstream narinfo failed", "upstream", src.String(), "hash", hash, "err", err)
			failed = true
			continue
		}
		info, err := p.check(hash, text)
		if err != nil {
			p.count(src, "narinfo", "refused")
			p.log.Warn("upstream narinfo refused", "upstream", src.String(), "hash", hash, "err", err)
			continue
		}
		p.count(src, "narinfo", "hit")
		info.src = src
		p.remember(info)
		return info, nil
	}
	if !failed && p.cfg.NegativeTTL > 0 {
		p.mu.Lock()
		if len(p.misses) >= maxMisses {
			p.misses = make(map[string]time.Time)
		}
		p.misses[hash] = time.Now().Add(p.cfg.NegativeTTL)
		p.mu.Unlock()
	}
	return nil, nil
}

// check parses an upstream narinfo of store path hash and checks its
// store path and signature.
func (p *puller) check(hash string, text []byte) (*pulledInfo, error) {
	ni, err := narinfo.ParseStoreDir(bytes.NewReader(text), p.storeDir)
	if err != nil {
		return nil, err
	}
	if sp, err := storepath.Parse(p.storeDir, ni.StorePath); err != nil || sp.Hash != hash {
		return nil, fmt.Errorf("StorePath %s is not of hash %s", ni.StorePath, hash)
	}
	narHash, err := ni.NarSHA256()
	if err != nil {
		return nil, err
	}
	if len(p.cfg.PublicKeys) > 0 {
		if err := ni.Verify(p.cfg.PublicKeys); err != nil {
			return nil, fmt.Errorf("%s: no valid signature by a trusted upstream key: %w", ni.StorePath, err)
		}
	}
	return &pulledInfo{hash: hash, text: text, ni: ni, narHash: narHash, at: time.Now()}, nil
}

// remember keeps info until its NAR is stored, or for pulledTTL.
func (p *puller) remember(info *pulledInfo) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.byHash) >= maxPulled {
		for h, old := range p.byHash {
			if time.Since(old.at) >= pulledTTL || len(p.byHash) >= maxPulled {
				p.forget(h)
			}
		}
	}
	p.byHash[info.hash] = info
	p.byNAR[info.narHash] = info
}

// forget drops what is remembered of store path hash; p.mu is held.
func (p *puller) forget(hash string) {
	if info := p.byHash[hash]; info != nil {
		delete(p.byHash, hash)
		if p.byNAR[info.narHash] == info {
			delete(p.byNAR, info.narHash)
		}
	}
}

// served returns the upstream narinfo served lately whose NAR is narHash.
func (p *puller) served(narHash narfmt.Hash) *pulledInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.byNAR[narHash]
}

// link writes the narinfo of info, whose NAR the repository holds
// already under another store path.
func (p *puller) link(ctx context.Context, info *pulledInfo) error {
	release, err := p.cfg.Store.HoldNAR(ctx, info.narHash)
	if err != nil {
		return err
	}
	defer release()
	m, err := p.cfg.Store.Manifest(ctx, info.narHash)
	if err != nil {
		return err
	}
	if m.NarSize != info.ni.NarSize {
		return fmt.Errorf("%s: %w: NarSize %d, the stored NAR with this NarHash has %d bytes",
			info.ni.StorePath, narstore.ErrHashMismatch, info.ni.NarSize, m.NarSize)
	}
	if err := p.cfg.Store.PutNarInfo(ctx, info.hash, info.narHash, info.text); err != nil {
		return err
	}
	p.mu.Lock()
	p.forget(info.hash)
	p.mu.Unlock()
	return nil
}

// open returns a reader of the NAR of info, joining its pull in flight or
// starting one.
func (p *puller) open(ctx context.Context, info *pulledInfo) (io.ReadCloser, error) {
	p.mu.Lock()
	pl := p.inflight[info.narHash]
	if pl == nil {
		f, err := os.CreateTemp(p.cfg.SpoolDir, "nardedup-pull-*")
		if err != nil {
			p.mu.Unlock()
			return nil, fmt.Errorf("pull %s: spool: %w", info.ni.StorePath, err)
		}
		os.Remove(f.Name()) // the open file lives on until closed
		pl = &pull{info: info, f: f, size: int64(info.ni.NarSize), changed: make(chan struct{}), refs: 1}
		p.inflight[info.narHash] = pl
		go p.run(pl)
	}
	// The pull holds a reference while it is in flight.
	pl.mu.Lock()
	pl.refs++
	pl.mu.Unlock()
	p.mu.Unlock()
	return &pullReader{pl: pl, ctx: ctx}, nil
}

// run pulls the NAR of pl from its upstream into the repository, spooling
// it for the clients.
func (p *puller) run(pl *pull) {
	info := pl.info
	ctx := context.Background() // no client's: the pull outlives them
	start := time.Now()
	var fileBytes int64
	err := func() error {
		nar, err := ingest.OpenNARFile(ctx, info.src, info.ni)
		if err != nil {
			return err
		}
		defer func() { fileBytes = nar.FileBytes(); nar.Close() }()
		n := narstore.NAR{Hash: info.hash, NarHash: info.narHash, NarSize: info.ni.NarSize, NarInfo: info.text, Check: nar.Check}
		// Recorded under its package name, as ingest and pushes do, for
		// names dedup (the store path was checked with the narinfo).
		if sp, err := storepath.Parse(p.storeDir, info.ni.StorePath); err == nil {
			n.Name = storepath.PackageName(sp.Name)
		}
		committed := make(chan error, 1)
		if _, err := p.cfg.Store.PutNAR(ctx, n, io.TeeReader(nar, pl), func(err error) { committed <- err }); err != nil {
			return nar.Explain(err)
		}
		// The NAR matched its NarHash and NarSize: the clients may have
		// its last byte while it is committed.
		pl.finish(nil)
		if p.cfg.Flush != nil {
			if err := p.cfg.Flush(ctx); err != nil {
				return err
			}
		}
		return <-committed
	}()
	if err == nil {
		p.linkSiblings(ctx, info)
	}
	p.mu.Lock()
	p.stats.Bytes += fileBytes
	delete(p.inflight, info.narHash)
	if err == nil {
		p.stats.NARs++
		p.forget(info.hash)
	} else if errors.Is(err, narstore.ErrHashMismatch) || errors.Is(err, ingest.ErrFileMismatch) {
		p.stats.HashFailures++
	}
	p.mu.Unlock()
	if err != nil {
		p.count(info.src, "nar", "failed")
		p.log.Error("pull-through failed: nothing stored", "path", info.ni.StorePath, "upstream", info.src.String(),
			"nar", info.ni.URL, "err", err)
		pl.finish(fmt.Errorf("pull %s from %s: %w", info.ni.StorePath, info.src, err))
	} else {
		p.count(info.src, "nar", "ok")
		p.log.Info("NAR pulled", "path", info.ni.StorePath, "upstream", info.src.String(),
			"narsize", info.ni.NarSize, "file_bytes", fileBytes, "duration", time.Since(start))
	}
	pl.release()
}

// linkSiblings writes the narinfos of the other store paths served lately
// whose NAR is that of info, now stored.
func (p *puller) linkSiblings(ctx context.Context, info *pulledInfo) {
	var siblings []*pulledInfo
	p.mu.Lock()
	for _, o := range p.byHash {
		if o.narHash == info.narHash && o.hash != info.hash {
			siblings = append(siblings, o)
		}
	}
	p.mu.Unlock()
	for _, o := range siblings {
		if err := p.link(ctx, o); err != nil {
			p.log.Error("pull-through: narinfo not stored", "path", o.ni.StorePath, "upstream", o.src.String(), "err", err)
		}
	}
}

// pull is one NAR being pulled, spooled to an unlinked file that its
// clients read.
type pull struct {
	info *pulledInfo
	f    *os.File
	size int64 // NarSize

	mu      sync.Mutex
	n       int64         // bytes spooled
	done    bool          // the NAR was checked, or failed
	err     error         // why it failed
	changed chan struct{} // closed and replaced at every change
	refs    int           // the pull and its readers
}

// Write spools NAR bytes as the repository reads them.
func (pl *pull) Write(b []byte) (int, error) {
	n, err := pl.f.WriteAt(b, pl.n) // only this goroutine moves pl.n
	pl.mu.Lock()
	pl.n += int64(n)
	pl.signal()
	pl.mu.Unlock()
	if err != nil {
		return n, fmt.Errorf("spool: %w", err)
	}
	return n, nil
}

// signal wakes the readers; pl.mu is held.
func (pl *pull) signal() {
	close(pl.changed)
	pl.changed = make(chan struct{})
}

// finish marks the NAR checked (err nil) or failed; only the first call
// counts.
func (pl *pull) finish(err error) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if pl.done {
		return
	}
	pl.done, pl.err = true, err
	pl.signal()
}

// release drops a reference, closing the spool with the last.
func (pl *pull) release() {
	pl.mu.Lock()
	pl.refs--
	last := pl.refs == 0
	pl.mu.Unlock()
	if last {
		pl.f.Close()
	}
}

// pullReader reads a NAR being pulled from its spool, waiting for bytes
// to arrive. It withholds the NAR's last byte until the NAR has matched
// its NarHash and fails if it did not.
type pullReader struct {
	pl     *pull
	ctx    context.Context
	off    int64
	closed bool
}

func (r *pullReader) Read(b []byte) (int, error) {
	pl := r.pl
	for {
		pl.mu.Lock()
		n, done, err, changed := pl.n, pl.done, pl.err, pl.changed
		pl.mu.Unlock()
		if done && err != nil {
			return 0, err
		}
		limit := n
		if !done {
			limit = min(n, pl.size-1)
		}
		if avail := limit - r.off; avail > 0 {
			k, err := pl.f.ReadAt(b[:min(int64(len(b)), avail)], r.off)
			r.off += int64(k)
			if err != nil && !errors.Is(err, io.EOF) {
				return k, fmt.Errorf("pull %s: spool: %w", pl.info.ni.StorePath, err)
			}
			return k, nil
		}
		if done && r.off >= pl.size {
			return 0, io.EOF
		}
		select {
		case <-changed:
		case <-r.ctx.Done():
			return 0, r.ctx.Err()
		}
	}
}

func (r *pullReader) Close() error {
	if !r.closed {
		r.closed = true
		r.pl.release()
	}
	return nil
}

// servePulledNarInfo answers for a narinfo the repository lacks from the
// upstreams.
func (s *Server) servePulledNarInfo(w http.ResponseWriter, r *http.Request, hash string) {
	what := "narinfo " + hash
	info, err := s.pull.narInfo(r.Context(), hash)
	if err != nil {
		s.fail(w, r, what, err)
		return
	}
	// A NAR the repository holds under another store path needs only
	// the narinfo.
	ok, err := s.st.HasManifest(r.Context(), info.narHash)
	if err == nil && ok {
		err = s.pull.link(r.Context(), info)
	}
	if err != nil {
		s.fail(w, r, what, err)
		return
	}
	ni, err := narinfo.ParseStoreDir(bytes.NewReader(info.text), s.storeDir)
	if err == nil {
		_, err = rewrite(ni, s.storeDir, hash, s.zstd)
	}
	if err != nil {
		s.fail(w, r, what, err)
		return
	}
	body := []byte(ni.String())
	s.serveBytes(w, r, "text/x-nix-narinfo", body, etagOf(body))
}

// narSize returns the size of the NAR with narHash, stored or served
// lately from an upstream.
func (s *Server) narSize(ctx context.Context, narHash narfmt.Hash) (uint64, error) {
	m, err := s.st.Manifest(ctx, narHash)
	if errors.Is(err, narstore.ErrNotFound) && s.pull != nil {
		if info := s.pull.served(narHash); info != nil {
			return info.ni.NarSize, nil
		}
	}
	if err != nil {
		return 0, err
	}
	return m.NarSize, nil
}

// openPulled opens the NAR with narHash, which the repository lacked,
// from its pull if its narinfo was served from an upstream lately.
func (s *Server) openPulled(ctx context.Context, narHash narfmt.Hash) (io.ReadCloser, uint64, error) {
	info := s.pull.served(narHash)
	if info == nil {
		// Its pull may have been committed since.
		rc, m, err := s.openRepo(ctx, narHash)
		if err != nil {
			return nil, 0, err
		}
		return rc, m.NarSize, nil
	}
	rc, err := s.pull.open(ctx, info)
	return rc, info.ni.NarSize, err
}
