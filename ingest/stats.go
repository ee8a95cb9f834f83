package ingest

import (
	"fmt"
	"time"
)

// Failure is one store path that could not be ingested.
type Failure struct {
	Hash string // store path hash part, or log/<drv> or realisations/<id>.doi
	Err  error
}

func (f Failure) String() string { return fmt.Sprintf("%s: %v", f.Hash, f.Err) }

// Stats counts what a run did.
type Stats struct {
	Seen        int   // store paths listed
	Skipped     int   // already in the repository
	OtherShard  int   // left to another process (Options.Shard)
	Linked      int   // NAR already stored under another path: narinfo only
	NARs        int   // NARs read and checked
	Committed   int   // of those, made durable and visible: stored
	Revived     int   // forgotten store paths back, their tombstones deleted
	Failed      int   // store paths that failed
	NarBytes    int64 // uncompressed NAR bytes read
	SourceBytes int64 // compressed file bytes read from the source
	StoredBytes int64 // bytes added to the repository, counted once visible
	Cuts        int64 // store path occurrences cut out of committed NARs
	Chunks      int   // residue chunks of committed NARs
	NewChunks   int   // of those, not stored before
	Elapsed     time.Duration
	// Logs and Realisations count the build logs and realisations
	// copied (see extras.go), LogBytes the logs' size; ExtrasUnlisted
	// says the source cannot list them (an HTTP cache), so none were.
	Logs           int
	Realisations   int
	LogBytes       int64
	ExtrasUnlisted bool
	Failures       []Failure
	// Interrupted says the run's context ended before it was done, and
	// InFlight lists the store paths it cut off: nothing of them is
	// visible and a new run ingests them.
	Interrupted bool
	InFlight    []string
	// Drained says the run stopped taking store paths when
	// Options.Drain was closed: the ones it took are done, the others
	// are left for a later run.
	Drained bool
}

// Add adds the counters of o to s (as the passes of Follow do), and
// appends its failures and the store paths it cut off.
func (s *Stats) Add(o Stats) {
	s.Seen += o.Seen
	s.Skipped += o.Skipped
	s.OtherShard += o.OtherShard
	s.Linked += o.Linked
	s.NARs += o.NARs
	s.Committed += o.Committed
	s.Revived += o.Revived
	s.Failed += o.Failed
	s.NarBytes += o.NarBytes
	s.SourceBytes += o.SourceBytes
	s.StoredBytes += o.StoredBytes
	s.Cuts += o.Cuts
	s.Chunks += o.Chunks
	s.NewChunks += o.NewChunks
	s.Elapsed += o.Elapsed
	s.Failures = append(s.Failures, o.Failures...)
	s.InFlight = append(s.InFlight, o.InFlight...)
	s.Interrupted = s.Interrupted || o.Interrupted
	s.Drained = s.Drained || o.Drained
}

func (r *run) add(f func(*Stats)) {
	r.mu.Lock()
	f(&r.stats)
	r.mu.Unlock()
}

func (r *run) snapshot() *Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stats
	s.Failures = append([]Failure(nil), r.stats.Failures...)
	s.InFlight = append([]string(nil), r.stats.InFlight...)
	s.Elapsed = time.Since(r.start)
	return &s
}

// progress starts calling opts.Progress and returns a function that stops
// it after one last call.
func (r *run) progress(opts Options) func() {
	if opts.Progress == nil {
		return func() {}
	}
	every := opts.ProgressEvery
	if every <= 0 {
		every = 10 * time.Second
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				opts.Progress(*r.snapshot())
			case <-stop:
				return
			}
		}
	}()
	return func() {
		close(stop)
		<-done
		opts.Progress(*r.snapshot())
	}
}

// MBps returns the rate of NAR bytes read in MB/s.
func (s *Stats) MBps() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.NarBytes) / 1e6 / s.Elapsed.Seconds()
}
