package server

import (
	"bufio"
	"context"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// Defaults of Options and HTTPOptions.
const (
	DefaultSendTimeout  = time.Minute
	DefaultIdleTimeout  = 2 * time.Minute
	defaultQueueTimeout = 30 * time.Second
	// streamMemory is what one NAR stream may hold at most: three chunk
	// readers (recipe, positions, residue), each with frames of up to
	// 4 MiB decoded ahead of the client, most of it for the residue.
	streamMemory = 48 << 20
	minStreams   = 8
	maxStreams   = 1024
)

// streamLimit bounds the NAR streams in progress server-wide. A request
// beyond the bound waits in line for up to queue.
type streamLimit struct {
	slots chan struct{} // nil: no bound
	queue time.Duration
}

func newStreamLimit(n int, queue time.Duration) *streamLimit {
	if queue == 0 {
		queue = defaultQueueTimeout
	}
	if n == 0 {
		n = DefaultMaxConcurrentNARs()
	}
	l := &streamLimit{queue: queue}
	if n > 0 {
		l.slots = make(chan struct{}, n)
	}
	return l
}

// acquire takes a slot, waiting until ctx ends or the queue timeout
// passes; it reports whether it got one. Each slot taken must be given
// back with release.
func (l *streamLimit) acquire(ctx context.Context) bool {
	if l.slots == nil {
		return true
	}
	select {
	case l.slots <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(l.queue)
	defer t.Stop()
	select {
	case l.slots <- struct{}{}:
		return true
	case <-ctx.Done():
	case <-t.C:
	}
	return false
}

func (l *streamLimit) release() {
	if l.slots != nil {
		<-l.slots
	}
}

// DefaultMaxConcurrentNARs is the stream bound used when
// Options.MaxConcurrentNARs is 0: a quarter of the memory available to the
// process (the cgroup limit or the machine's memory) divided by what one
// stream may hold, within 8..1024.
func DefaultMaxConcurrentNARs() int {
	mem := memoryLimit()
	if mem <= 0 {
		return 64
	}
	return min(max(int(mem/4/streamMemory), minStreams), maxStreams)
}

// memoryLimit returns the cgroup v2 memory limit if there is one, else
// the machine's memory, else 0.
func memoryLimit() int64 {
	total := memTotal()
	if b, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && v > 0 && (total == 0 || v < total) {
			return v
		}
	}
	return total
}

func memTotal() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(rest, "kB")), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}

// sender sets the write deadline of one NAR response. It moves before
// every write, so a client reading slowly but steadily is never cut off,
// and one that stops reading is after timeout. (The server's read
// deadline is no concern: net/http lifts it once a bodiless request is
// read.)
type sender struct {
	ctl     *http.ResponseController
	timeout time.Duration
}

// next gives the coming write timeout to complete.
func (s sender) next() {
	s.ctl.SetWriteDeadline(time.Now().Add(s.timeout))
}
