package ingest

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"runtime"
	"sync"
	"time"

	"github.com/nardedup/nardedup/chunkstore/lease"
	"github.com/nardedup/nardedup/internal/decompress"
	"github.com/nardedup/nardedup/narfmt"
	"github.com/nardedup/nardedup/narfmt/narinfo"
	"github.com/nardedup/nardedup/narfmt/nixhash"
	"github.com/nardedup/nardedup/narfmt/storepath"
	"github.com/nardedup/nardedup/narstore"
	"github.com/nardedup/nardedup/repo"
	"github.com/nardedup/nardedup/source"
)

// Options configure a Run.
type Options struct {
	Jobs int // parallel NARs; 0 means the number of CPUs
	// Progress, if set, is called with a snapshot of the counters at least
	// every ProgressEvery, from its own goroutine, and once at the end.
	Progress      func(Stats)
	ProgressEvery time.Duration
	// MaxConsecutiveFailures stops the run once that many store paths in a
	// row have failed (0 means DefaultMaxConsecutiveFailures; negative,
	// never): a source or repository that is down fails every path, and
	// trying each of them would only delay the error.
	MaxConsecutiveFailures int
	// Session configures the session the run announces in the repository,
	// so that a garbage collection running meanwhile waits for it (Kind is
	// set to "ingest").
	Session lease.SessionOptions
	// Shard, if set, limits the run to the store paths of one shard (see
	// Shard); the others are counted in Stats.OtherShard. Their narinfos
	// are read to learn the names.
	Shard Shard
	// NameCandidates is how many of the newest earlier NARs of a store
	// path's package name are offered as candidates before its NAR is
	// stored, when the repository's chunk store has no local index
	// (names dedup, chunkstore.Options.Candidates): 0 means
	// DefaultNameCandidates.
	NameCandidates int
	// Drain, when closed, stops the run from taking more store paths: it
	// ends once those in flight are stored (or failed), with
	// Stats.Drained set and no error for the ones it did not take.
	Drain <-chan struct{}
}

// DefaultNameCandidates is the default of Options.NameCandidates.
const DefaultNameCandidates = 3

// DefaultCandidates is the chunkstore.Options.Candidates that names
// dedup opens the repository with: chunk ids kept, about 200 bytes each.
const DefaultCandidates = 1 << 18

// DefaultMaxConsecutiveFailures is the default of
// Options.MaxConsecutiveFailures.
const DefaultMaxConsecutiveFailures = 50

// Run ingests every narinfo of src into the repository rp. It returns the
// run's statistics and an error if any store path failed (see
// Stats.Failures) or the run could not go on.
func Run(ctx context.Context, src source.Source, rp *repo.Repo, opts Options) (*Stats, error) {
	stats, err := runPass(ctx, src, rp, opts)
	if err == nil && len(stats.Failures) > 0 {
		err = fmt.Errorf("ingest: %d of %d store paths failed", len(stats.Failures), stats.Seen)
	}
	return stats, err
}

// runPass is Run without the error for the store paths that failed.
func runPass(ctx context.Context, src source.Source, rp *repo.Repo, opts Options) (*Stats, error) {
	st := rp.NARs()
	if opts.Jobs <= 0 {
		opts.Jobs = runtime.NumCPU()
	}
	if opts.MaxConsecutiveFailures == 0 {
		opts.MaxConsecutiveFailures = DefaultMaxConsecutiveFailures
	}
	r := &run{src: src, st: st, storeDir: st.StoreDir(), start: time.Now(), shard: opts.Shard,
		inflight: make(map[narfmt.Hash][]pendingLink), limit: opts.MaxConsecutiveFailures}
	if !rp.Chunks().HasIndex() {
		r.names = cmp.Or(opts.NameCandidates, DefaultNameCandidates)
	}
	if err := opts.Shard.check(); err != nil {
		return r.snapshot(), err
	}
	if err := r.checkCacheInfo(ctx); err != nil {
		return r.snapshot(), err
	}
	opts.Session.Kind = "ingest"
	ss, err := rp.Chunks().StartSession(ctx, opts.Session)
	if err != nil {
		return r.snapshot(), fmt.Errorf("ingest: %w", err)
	}
	stopProgress := r.progress(opts)
	err = r.work(ctx, opts.Jobs, opts.Drain)
	if err == nil {
		err = r.extras(ctx)
	}
	if ferr := rp.Chunks().Flush(context.WithoutCancel(ctx)); err == nil {
		err = ferr
	}
	if cerr := ss.Close(context.WithoutCancel(ctx)); err == nil {
		err = cerr
	}
	stopProgress()
	stats := r.snapshot()
	if ctx.Err() != nil && (err == nil || errors.Is(err, ctx.Err())) {
		stats.Interrupted = true
		err = fmt.Errorf("ingest: interrupted with %d store paths in flight, none of them stored (run again to resume): %w",
			len(stats.InFlight), ctx.Err())
	}
	return stats, err
}

type run struct {
	src      source.Source
	st       *narstore.Store
	storeDir string
	start    time.Time
	shard    Shard
	names    int // NARs of a package name to take candidates from; 0: the index dedups

	mu      sync.Mutex
	stats   Stats
	limit   int                // consecutive failures that stop the run
	streak  int                // consecutive failures so far
	stop    context.CancelFunc // stops the workers
	stopErr error              // why the run stopped early

	imu      sync.Mutex
	inflight map[narfmt.Hash][]pendingLink // NARs being stored, and who waits for them

	tombstones sync.Map // store path hashes whose tombstone goes once their narinfo is written
}

func (r *run) checkCacheInfo(ctx context.Context) error {
	text, err := r.src.CacheInfo(ctx)
	if err != nil {
		return fmt.Errorf("ingest: %s: nix-cache-info: %w", r.src, err)
	}
	if err := CheckCacheInfo(text, r.storeDir); err != nil {
		return fmt.Errorf("ingest: %s %w", r.src, err)
	}
	return nil
}

// CheckCacheInfo fails if the nix-cache-info text names a store directory
// other than storeDir.
func CheckCacheInfo(text []byte, storeDir string) error {
	for _, line := range bytes.Split(text, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("StoreDir:")); ok {
			if dir := string(bytes.TrimSpace(v)); dir != storeDir {
				return fmt.Errorf("has store dir %s, the repository %s", dir, storeDir)
			}
		}
	}
	return nil
}

// errDrained ends the listing when Options.Drain is closed.
var errDrained = errors.New("drained")

// work lists the source and processes its store paths on jobs workers,
// until drain is closed.
func (r *run) work(ctx context.Context, jobs int, drain <-chan struct{}) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r.mu.Lock()
	r.stop = cancel
	r.mu.Unlock()
	hashes := make(chan string)
	var wg sync.WaitGroup
	for i := 0; i < jobs; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for h := range hashes {
				r.one(ctx, h)
			}
		}()
	}
	err := r.src.List(ctx, func(h string) error {
		select {
		case <-drain:
			return errDrained
		default:
		}
		select {
		case hashes <- h:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-drain:
			return errDrained
		}
	})
	if errors.Is(err, errDrained) {
		r.add(func(s *Stats) { s.Drained = true })
		err = nil
	}
	close(hashes)
	wg.Wait()
	r.mu.Lock()
	stopErr := r.stopErr
	r.mu.Unlock()
	if stopErr != nil {
		return stopErr
	}
	if err != nil {
		return fmt.Errorf("ingest: list %s: %w", r.src, err)
	}
	return ctx.Err()
}

// one ingests the store path with hash part h and records the outcome.
func (r *run) one(ctx context.Context, h string) {
	r.add(func(s *Stats) { s.Seen++ })
	if ctx.Err() != nil {
		return
	}
	done, err := r.ingest(ctx, h)
	if err != nil {
		r.failCtx(ctx, h, err)
		return
	}
	if done != nil {
		r.succeed(done)
	}
}

// failCtx records store path h as failed with err, or as interrupted if
// ctx ended: a NAR cut off by the end of the run is not damaged.
func (r *run) failCtx(ctx context.Context, h string, err error) {
	if ctx.Err() == nil {
		r.fail(h, err)
		return
	}
	r.add(func(s *Stats) { s.InFlight = append(s.InFlight, h) })
}

func (r *run) fail(h string, err error) {
	r.add(func(s *Stats) {
		s.Failed++
		s.Failures = append(s.Failures, Failure{Hash: h, Err: err})
		r.streak++
		if r.limit > 0 && r.streak >= r.limit && r.stopErr == nil && r.stop != nil {
			r.stopErr = fmt.Errorf("ingest: stopped after %d store paths in a row failed (is the source or the repository reachable?); the last: %s: %w",
				r.streak, h, err)
			r.stop()
		}
	})
}

// succeed records a store path done and ends any run of failures.
func (r *run) succeed(f func(*Stats)) {
	r.add(func(s *Stats) {
		f(s)
		r.streak = 0
	})
}

// ingest handles one store path. It returns the change to the stats on
// success; for a NAR still being committed it returns nil and the commit
// callback records the outcome.
func (r *run) ingest(ctx context.Context, h string) (func(*Stats), error) {
	var (
		text    []byte
		ni      *narinfo.NarInfo
		narHash narfmt.Hash
		err     error
	)
	if !r.shard.all() {
		// The name, and so the shard, is in the narinfo: read it first, so
		// that what every process of a sharded run counts does not depend
		// on what the others have written so far.
		if text, ni, narHash, err = r.narInfo(ctx, h); err != nil {
			return nil, err
		}
		if p, _ := storepath.Parse(r.storeDir, ni.StorePath); !r.shard.Takes(p.Name) {
			return func(s *Stats) { s.OtherShard++ }, nil
		}
	}
	if ok, err := r.st.HasNarInfo(ctx, h); err != nil || ok {
		return func(s *Stats) { s.Skipped++ }, err
	}
	if text == nil {
		if text, ni, narHash, err = r.narInfo(ctx, h); err != nil {
			return nil, err
		}
	}
	if text, err = r.revive(ctx, h, ni, narHash, text); err != nil {
		return nil, err
	}
	p := pendingLink{hash: h, ni: ni, text: text}
	if r.waitFor(narHash, p) {
		return nil, nil // linked when the NAR being stored under another path is
	}
	done, err := r.store(ctx, p, narHash)
	if err != nil && ownFault(ctx, err) {
		r.retryWaiters(ctx, narHash)
	}
	return done, err
}

// store stores the NAR with narHash from p's file, or links p to it if it
// is stored already, and settles the store paths waiting for it (see
// finishInflight), unless p failed for a fault of its own (see ownFault):
// they are left waiting then, for the caller to hand the NAR on. It
// returns the change to the stats on success; for a NAR still being
// committed it returns nil and the commit callback records the outcome.
func (r *run) store(ctx context.Context, p pendingLink, narHash narfmt.Hash) (func(*Stats), error) {
	// From the check that the NAR is stored to the narinfo that refers to
	// it, a garbage collection must wait for this path (see package gc); a
	// NAR that a running collection has condemned waits for its sweep.
	release, err := r.st.HoldNAR(ctx, narHash)
	if err != nil {
		r.finishInflight(ctx, narHash, err)
		return nil, err
	}
	defer release()
	_, err = r.st.Manifest(ctx, narHash)
	if errors.Is(err, narstore.ErrNotFound) {
		err = r.putNAR(ctx, p.hash, p.ni, narHash, p.text)
	} else if err == nil {
		if err = r.link(ctx, p, narHash); err == nil {
			r.finishInflight(ctx, narHash, nil)
			return func(s *Stats) { s.Linked++; s.StoredBytes += int64(len(p.text)) }, nil
		}
	}
	if err != nil && !ownFault(ctx, err) {
		r.finishInflight(ctx, narHash, err)
	}
	return nil, err
}

// retryWaiters hands the NAR with narHash, which failed under one store
// path for a fault of that path's own, to the store paths waiting for it:
// each in turn tries its own file, and the first that stores or links the
// NAR settles the rest.
func (r *run) retryWaiters(ctx context.Context, narHash narfmt.Hash) {
	for {
		p, ok := r.nextWaiter(narHash)
		if !ok {
			return
		}
		done, err := r.store(ctx, p, narHash)
		if err == nil {
			if done != nil {
				r.succeed(done)
			}
			return
		}
		r.fail(p.hash, err)
		if !ownFault(ctx, err) {
			return
		}
	}
}

// nextWaiter takes the first store path waiting for the NAR with narHash,
// which stays in flight under it. With none waiting, the NAR is no longer
// in flight.
func (r *run) nextWaiter(narHash narfmt.Hash) (pendingLink, bool) {
	r.imu.Lock()
	defer r.imu.Unlock()
	links := r.inflight[narHash]
	if len(links) == 0 {
		delete(r.inflight, narHash)
		return pendingLink{}, false
	}
	r.inflight[narHash] = links[1:]
	return links[0], true
}

// packageName returns the package name of storePath, under which its
// NAR is recorded in a names object whatever the dedup, so that an ingest
// with names dedup finds the NARs of earlier runs.
func (r *run) packageName(storePath string) (string, error) {
	p, err := storepath.Parse(r.storeDir, storePath)
	if err != nil {
		return "", err
	}
	return storepath.PackageName(p.Name), nil
}

// fileError marks an error of one store path's own copy of a NAR: its
// download, its FileHash or FileSize, its decompression.
type fileError struct{ err error }

func (e fileError) Error() string { return e.err.Error() }
func (e fileError) Unwrap() error { return e.err }

// ownFault reports whether err, from storing or linking a NAR for one
// store path, is the fault of that path's own narinfo or file rather than
// of the NAR or the repository: then another store path with the same
// NarHash may still have a good copy. A NAR that does not match the
// path's NarHash or NarSize, or does not parse, is such a fault: the
// other path's file may hold the NAR its narinfo names.
func ownFault(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var fe fileError
	return errors.As(err, &fe) || errors.Is(err, narstore.ErrHashMismatch) || errors.Is(err, narfmt.ErrInvalid)
}

// pendingLink is a store path whose NAR is the same as one being stored
// under another path: it gets its narinfo once that NAR is committed.
type pendingLink struct {
	hash string
	ni   *narinfo.NarInfo
	text []byte
}

// waitFor registers p to be linked when the NAR with narHash, in flight
// under another store path, is committed, and reports whether it did. If no
// NAR with that hash is in flight, it marks this one as in flight.
func (r *run) waitFor(narHash narfmt.Hash, p pendingLink) bool {
	r.imu.Lock()
	defer r.imu.Unlock()
	if links, ok := r.inflight[narHash]; ok {
		r.inflight[narHash] = append(links, p)
		return true
	}
	r.inflight[narHash] = nil
	return false
}

// finishInflight links the store paths that waited for the NAR with
// narHash, or fails them with err.
func (r *run) finishInflight(ctx context.Context, narHash narfmt.Hash, err error) {
	r.imu.Lock()
	links := r.inflight[narHash]
	delete(r.inflight, narHash)
	r.imu.Unlock()
	for _, p := range links {
		lerr := err
		if lerr == nil {
			lerr = r.link(ctx, p, narHash)
		} else {
			lerr = fmt.Errorf("the same NAR failed under another store path: %w", err)
		}
		if lerr != nil {
			r.failCtx(ctx, p.hash, lerr)
			continue
		}
		r.succeed(func(s *Stats) { s.Linked++; s.StoredBytes += int64(len(p.text)) })
	}
}

// link writes the narinfo of a store path whose NAR is stored, after
// checking that the narinfo describes that NAR right.
func (r *run) link(ctx context.Context, p pendingLink, narHash narfmt.Hash) error {
	m, err := r.st.Manifest(ctx, narHash)
	if err != nil {
		return err
	}
	if m.NarSize != p.ni.NarSize {
		return fmt.Errorf("%w: NarSize %d, the stored NAR with this NarHash has %d bytes",
			narstore.ErrHashMismatch, p.ni.NarSize, m.NarSize)
	}
	if err := r.st.PutNarInfo(ctx, p.hash, narHash, p.text); err != nil {
		return err
	}
	return r.buryTombstone(ctx, p.hash)
}

// narInfo reads and parses the source's narinfo of store path hash h.
func (r *run) narInfo(ctx context.Context, h string) ([]byte, *narinfo.NarInfo, narfmt.Hash, error) {
	text, err := r.src.NarInfo(ctx, h)
	if err != nil {
		return nil, nil, narfmt.Hash{}, err
	}
	ni, narHash, err := r.parse(h, text)
	return text, ni, narHash, err
}

// parse parses a narinfo and checks that it describes store path hash h.
func (r *run) parse(h string, text []byte) (*narinfo.NarInfo, narfmt.Hash, error) {
	var sum narfmt.Hash
	ni, err := narinfo.ParseStoreDir(bytes.NewReader(text), r.storeDir)
	if err != nil {
		return nil, sum, err
	}
	p, err := storepath.Parse(r.storeDir, ni.StorePath)
	if err != nil {
		return nil, sum, err
	}
	if p.Hash != h {
		return nil, sum, fmt.Errorf("narinfo %s.narinfo describes another path, %s", h, ni.StorePath)
	}
	sum, err = ni.NarSHA256()
	return ni, sum, err
}

// NARFile reads the NAR of one narinfo from its file in a source cache:
// Read yields the decompressed NAR and fails past its NarSize (wrapping
// narstore.ErrHashMismatch); Check, once the NAR has ended, reads the
// rest of the file and compares it with FileHash and FileSize. Errors of
// the file itself wrap a type that ownFault recognises. Pull-through
// serving reads upstream NARs through it too.
type NARFile struct {
	f           io.ReadCloser
	file        *fileCheck
	dec         io.ReadCloser
	nar         io.Reader
	ni          *narinfo.NarInfo
	compression string
}

// OpenNARFile opens the file of narinfo ni in src. The caller closes it.
func OpenNARFile(ctx context.Context, src source.Source, ni *narinfo.NarInfo) (*NARFile, error) {
	f, err := src.Open(ctx, ni.URL)
	if err != nil {
		return nil, fileError{err}
	}
	file, err := newFileCheck(f, ni)
	if err != nil {
		f.Close()
		return nil, fileError{err}
	}
	compression := ni.Compression
	if compression == "" {
		compression = "bzip2" // what Nix assumes
	}
	dec, err := decompress.NewReader(ctx, file, compression)
	if err != nil {
		f.Close()
		return nil, fileError{err}
	}
	// A NAR that decompresses past its NarSize is refused at NarSize+1 bytes.
	nar := fileReader{&sizeLimit{r: dec, left: ni.NarSize, size: ni.NarSize}}
	return &NARFile{f: f, file: file, dec: dec, nar: nar, ni: ni, compression: compression}, nil
}

// Read reads the decompressed NAR.
func (n *NARFile) Read(p []byte) (int, error) { return n.nar.Read(p) }

// Check stops the decompression, reads the rest of the file and checks
// its FileHash and FileSize.
func (n *NARFile) Check() error {
	n.dec.Close()
	if err := n.file.check(); err != nil {
		return fileError{err}
	}
	return nil
}

// FileBytes returns how many bytes of the file have been read.
func (n *NARFile) FileBytes() int64 { return n.file.n }

// Explain adds to err, from reading the NAR, what the file's first bytes
// say about a compression other than the narinfo's.
func (n *NARFile) Explain(err error) error {
	n.dec.Close() // done reading file
	return explainCompression(n.ni, n.compression, n.file.head, err)
}

// Close closes the decompressor and the file.
func (n *NARFile) Close() error {
	n.dec.Close()
	return n.f.Close()
}

// putNAR fetches, checks and stores one NAR.
func (r *run) putNAR(ctx context.Context, h string, ni *narinfo.NarInfo, narHash narfmt.Hash, text []byte) error {
	nar, err := OpenNARFile(ctx, r.src, ni)
	if err != nil {
		return err
	}
	defer nar.Close()
	n := narstore.NAR{Hash: h, NarHash: narHash, NarSize: ni.NarSize, NarInfo: text, Check: nar.Check}
	if n.Name, err = r.packageName(ni.StorePath); err != nil {
		return err
	}
	if r.names > 0 {
		if _, err := r.st.OfferNamed(ctx, n.Name, r.names); err != nil {
			return err
		}
	}
	// What the NAR added to the repository counts once its narinfo is
	// written (the callback) and PutNAR has said how much that was,
	// whichever of the two comes last.
	var (
		mu        sync.Mutex
		res       *narstore.PutResult
		committed bool
	)
	stored := func(res *narstore.PutResult) {
		r.add(func(s *Stats) {
			s.StoredBytes += res.StoredBytes() + int64(len(text))
			s.Cuts += res.Cuts
			s.Chunks += res.Residue.Chunks
			s.NewChunks += res.Residue.NewChunks
		})
	}
	put, err := r.st.PutNAR(ctx, n, nar, func(err error) {
		r.finishInflight(context.WithoutCancel(ctx), narHash, err)
		if err == nil {
			err = r.buryTombstone(context.WithoutCancel(ctx), h)
		}
		if err != nil {
			r.fail(h, err)
			return
		}
		r.succeed(func(s *Stats) { s.Committed++ })
		mu.Lock()
		committed = true
		if res != nil {
			stored(res)
		}
		mu.Unlock()
	})
	if err != nil {
		return nar.Explain(err)
	}
	r.add(func(s *Stats) {
		s.NARs++
		s.NarBytes += put.NarSize
		s.SourceBytes += nar.FileBytes()
	})
	mu.Lock()
	res = &put
	if committed {
		stored(res)
	}
	mu.Unlock()
	return nil
}

// sizeLimit passes on the first size bytes of r and fails, wrapping
// narstore.ErrHashMismatch, if r has more.
type sizeLimit struct {
	r    io.Reader
	left uint64
	size uint64
}

func (l *sizeLimit) Read(p []byte) (int, error) {
	if l.left == 0 {
		var b [1]byte
		if n, err := io.ReadFull(l.r, b[:]); n == 0 {
			return 0, err // io.EOF at the end of a NAR of the right size
		}
		return 0, fmt.Errorf("%w: NAR is longer than its NarSize %d", narstore.ErrHashMismatch, l.size)
	}
	if uint64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= uint64(n)
	return n, err
}

// fileReader marks the errors of reading a store path's file as its own.
type fileReader struct{ r io.Reader }

func (f fileReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err != nil && err != io.EOF {
		err = fileError{err}
	}
	return n, err
}

// fileCheck counts and hashes the compressed file as it is read. It reads
// at most one byte past the most the file may have (FileSize, or without
// one maxFileSize of NarSize) and fails there, and fails a file that ends
// short of FileSize: a decoder may consume input without end (empty zstd
// frames, xz stream padding, empty bzip2 streams) and produce nothing that
// the NarSize limit of its output could catch.
type fileCheck struct {
	r    io.Reader
	ni   *narinfo.NarInfo
	want nixhash.Hash
	h    hash.Hash
	n    int64
	max  int64
	err  error  // sticky
	head []byte // the first headLen bytes
}

// maxFileSize bounds a compressed file whose narinfo has no FileSize: xz,
// zstd and bzip2 store data they cannot compress with a few bytes of
// framing per block (bzip2, the worst, needs 1% plus 600 bytes), so an
// eighth of NarSize plus 1 MiB of headroom is more than any real file
// takes.
func maxFileSize(narSize uint64) int64 {
	const limit = math.MaxInt64 - 1 // leaves room to read one byte more
	if narSize > limit/2 {
		return limit
	}
	return int64(narSize + narSize/8 + 1<<20)
}

func newFileCheck(r io.Reader, ni *narinfo.NarInfo) (*fileCheck, error) {
	fc := &fileCheck{r: r, ni: ni, max: maxFileSize(ni.NarSize)}
	if ni.FileSize != 0 {
		fc.max = int64(min(ni.FileSize, math.MaxInt64-1))
	}
	if ni.FileHash != "" {
		want, err := nixhash.Parse(ni.FileHash)
		if err != nil {
			return nil, fmt.Errorf("FileHash: %w", err)
		}
		if fc.h, err = nixhash.New(want.Algo); err != nil {
			return nil, err
		}
		fc.want = want
	}
	return fc, nil
}

func (fc *fileCheck) Read(p []byte) (int, error) {
	if fc.err != nil {
		return 0, fc.err
	}
	if room := fc.max - fc.n + 1; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := fc.r.Read(p)
	if len(fc.head) < headLen {
		fc.head = append(fc.head, p[:min(n, headLen-len(fc.head))]...)
	}
	fc.n += int64(n)
	if fc.n > fc.max {
		n -= int(fc.n - fc.max)
		fc.n = fc.max
		fc.err = fc.tooLong()
		err = fc.err
	} else if err == io.EOF && fc.ni.FileSize != 0 && uint64(fc.n) < fc.ni.FileSize {
		fc.err = fmt.Errorf("%w: %s: %s ends after %d bytes, FileSize says %d",
			ErrFileMismatch, fc.ni.StorePath, fc.ni.URL, fc.n, fc.ni.FileSize)
		err = fc.err
	}
	if fc.h != nil {
		fc.h.Write(p[:n])
	}
	return n, err
}

func (fc *fileCheck) tooLong() error {
	if fc.ni.FileSize != 0 {
		return fmt.Errorf("%w: %s: %s is longer than its FileSize %d",
			ErrFileMismatch, fc.ni.StorePath, fc.ni.URL, fc.ni.FileSize)
	}
	return fmt.Errorf("%w: %s: %s is longer than %d bytes, more than a compressed NAR of NarSize %d takes",
		ErrFileMismatch, fc.ni.StorePath, fc.ni.URL, fc.max, fc.ni.NarSize)
}

// check reads the rest of the file and compares its size and hash with the
// narinfo's FileSize and FileHash.
func (fc *fileCheck) check() error {
	if _, err := io.Copy(io.Discard, fc); err != nil {
		if errors.Is(err, ErrFileMismatch) {
			return err
		}
		return fmt.Errorf("%s: %s: %w", fc.ni.StorePath, fc.ni.URL, err)
	}
	if fc.h != nil {
		if got := nixhash.FromHash(fc.want.Algo, fc.h); !got.Equal(fc.want) {
			return fmt.Errorf("%w: %s: %s has hash %s, FileHash says %s",
				ErrFileMismatch, fc.ni.StorePath, fc.ni.URL, got, fc.want)
		}
	}
	return nil
}

// ErrFileMismatch is wrapped when a compressed NAR file does not match its
// narinfo's FileHash or FileSize.
var ErrFileMismatch = errors.New("NAR file does not match its narinfo")
