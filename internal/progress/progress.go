package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Counts is a snapshot of how far a run has got.
type Counts struct {
	Done  int   // store paths done, whatever their outcome
	Total int   // store paths in all; 0 while not known
	Bytes int64 // NAR bytes done
}

// DefaultEvery is how often a Reporter that is not on a terminal prints a
// line, and DefaultRedraw how often one on a terminal redraws its bar.
const (
	DefaultEvery  = 5 * time.Second
	DefaultRedraw = 200 * time.Millisecond
)

// Options configure a Reporter.
type Options struct {
	// Every is how often a line is printed when not on a terminal
	// (default DefaultEvery), or the bar redrawn on one (default
	// DefaultRedraw).
	Every time.Duration
	// Terminal draws a bar instead of printing lines (see IsTerminal).
	Terminal bool
}

// Reporter shows the Counts of one run on w (see the package
// documentation).
type Reporter struct {
	w     io.Writer
	what  string
	start time.Time
	bar   *progressbar.ProgressBar // on a terminal

	mu      sync.Mutex
	c       Counts
	printed Counts // by the last line
	closed  bool

	stop, done chan struct{}
}

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// New starts a Reporter that prints on w, its lines prefixed by what (the
// command's name). Close stops it.
func New(w io.Writer, what string, opts Options) *Reporter {
	r := &Reporter{w: w, what: what, start: time.Now()}
	switch {
	case opts.Every > 0:
	case opts.Terminal:
		opts.Every = DefaultRedraw
	default:
		opts.Every = DefaultEvery
	}
	if opts.Terminal {
		r.bar = newBar(w, what, 0)
	}
	r.stop, r.done = make(chan struct{}), make(chan struct{})
	go r.tick(opts.Every)
	return r
}

func newBar(w io.Writer, what string, total int) *progressbar.ProgressBar {
	max := -1 // a spinner
	if total > 0 {
		max = total
	}
	return progressbar.NewOptions(max,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("paths"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionShowDescriptionAtLineEnd(),
		progressbar.OptionSetWidth(20),
		progressbar.OptionSetSpinnerChangeInterval(0), // redrawn by Reporter.tick
	)
}

// Update records the counts c, to be shown at the next redraw or line.
func (r *Reporter) Update(c Counts) {
	if r == nil {
		return
	}
	r.mu.Lock()
	if !r.closed {
		r.c = c
	}
	r.mu.Unlock()
}

// draw updates the bar; r.mu is held.
func (r *Reporter) draw() {
	if r.c.Total > 0 && r.bar.GetMax() != r.c.Total {
		r.bar.Exit()
		r.bar.Clear()
		r.bar = newBar(r.w, r.what, r.c.Total)
	}
	r.bar.Describe(r.rate())
	r.bar.Set(r.c.Done)
}

// Printf prints a message on a line of its own: after a line with the
// counts if they changed since the last, or clearing the bar first.
func (r *Reporter) Printf(format string, args ...any) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.closed:
	case r.bar != nil:
		r.bar.Clear()
	case r.c != r.printed:
		r.line()
	}
	fmt.Fprintf(r.w, r.what+": "+format+"\n", args...)
}

// Close shows the final counts (a last line unless the previous one had
// them, or the bar ended by a newline) and stops the Reporter.
func (r *Reporter) Close() {
	if r == nil {
		return
	}
	close(r.stop)
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.closed = true
	if r.bar == nil {
		if r.c != r.printed {
			r.line()
		}
		return
	}
	r.draw()
	r.bar.Exit()
	fmt.Fprintln(r.w)
}

func (r *Reporter) tick(every time.Duration) {
	defer close(r.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			r.mu.Lock()
			if r.bar != nil {
				r.draw()
			} else if r.c != r.printed {
				r.line()
			}
			r.mu.Unlock()
		case <-r.stop:
			return
		}
	}
}

// line prints the counts as a log line; r.mu is held.
func (r *Reporter) line() {
	r.printed = r.c
	fmt.Fprintf(r.w, "%s %s: %s\n", time.Now().Format(time.TimeOnly), r.what, r.c.Text(time.Since(r.start)))
}

// Text says what c means after elapsed, for a log line: "120 of 500 store
// paths, 1200.0 MiB of NAR, 45.3 MB/s, 1m20s left".
func (c Counts) Text(elapsed time.Duration) string {
	s := fmt.Sprintf("%d store paths", c.Done)
	if c.Total > 0 {
		s = fmt.Sprintf("%d of %d store paths", c.Done, c.Total)
	}
	s += ", " + mib(c.Bytes) + " of NAR"
	if secs := elapsed.Seconds(); secs > 0 {
		s += fmt.Sprintf(", %.1f MB/s", float64(c.Bytes)/1e6/secs)
	}
	if c.Total > 0 && c.Done > 0 && c.Done < c.Total {
		left := time.Duration(float64(elapsed) / float64(c.Done) * float64(c.Total-c.Done))
		s += ", " + left.Round(time.Second).String() + " left"
	}
	return s
}

// rate is the bar's description: the bytes done and their rate; r.mu is
// held.
func (r *Reporter) rate() string {
	s := mib(r.c.Bytes)
	if secs := time.Since(r.start).Seconds(); secs > 0 {
		s += fmt.Sprintf(" %.1f MB/s", float64(r.c.Bytes)/1e6/secs)
	}
	return s
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
