package server

import (
	"bufio"
	"container/list"
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults of Options and HTTPOptions.
const (
	DefaultSendTimeout  = time.Minute
	DefaultIdleTimeout  = 2 * time.Minute
	defaultQueueTimeout = 30 * time.Second
	// DefaultMinRate and DefaultMinRateWindow: a NAR download must take
	// 16 KiB a second, measured over 30s windows. Holding all of 125
	// streams then costs an attacker 2 MB/s rather than a trickle.
	DefaultMinRate       = 16 << 10
	DefaultMinRateWindow = 30 * time.Second
	// streamMemory is what one NAR stream may hold at most: three chunk
	// readers (recipe, positions, residue), each with frames of up to
	// 4 MiB decoded ahead of the client, most of it for the residue.
	streamMemory = 48 << 20
	minStreams   = 8
	maxStreams   = 1024
)

// streamLimit bounds the NAR streams in progress, server-wide and per
// client. A request beyond the server-wide bound waits in line for up to
// queue; one beyond its client's bound is refused at once. The last
// reserved slots go only to clients that hold no stream yet, so that a
// few clients cannot take every slot and starve newcomers.
type streamLimit struct {
	total     int // <= 0: no bound
	perClient int // streams held or waited for by one client; <= 0: no bound
	reserved  int
	queue     time.Duration

	mu      sync.Mutex
	busy    int
	clients map[string]clientStreams
	waiting list.List // of *streamWaiter, first come first
}

// clientStreams counts one client's streams.
type clientStreams struct{ held, waiting int }

// streamWaiter is a request in line for a slot.
type streamWaiter struct {
	client  string
	granted bool
	ready   chan struct{} // closed once granted
}

// Errors of streamLimit.acquire.
var (
	errClientBusy = errors.New("client holds its share of NAR streams")
	errBusy       = errors.New("all NAR streams busy")
)

func newStreamLimit(total, perClient int, queue time.Duration) *streamLimit {
	if queue == 0 {
		queue = defaultQueueTimeout
	}
	if total == 0 {
		total = DefaultMaxConcurrentNARs()
	}
	if perClient == 0 && total > 0 {
		perClient = DefaultMaxStreamsPerClient(total)
	}
	l := &streamLimit{total: total, perClient: perClient, queue: queue, clients: map[string]clientStreams{}}
	if total > 1 {
		l.reserved = max(1, total/16)
	}
	return l
}

// DefaultMaxStreamsPerClient is the per-client bound used when
// Options.MaxStreamsPerClient is 0, for a server-wide bound of total: 16,
// the NAR downloads one Nix client runs at once with its default
// max-substitution-jobs, or an eighth of total if that is more, but never
// more than a quarter of total (and at least 2, at most total).
func DefaultMaxStreamsPerClient(total int) int {
	return min(max(total/8, min(16, total/4), 2), total)
}

// canTake reports whether a client holding held streams may take a free
// slot. l.mu must be held.
func (l *streamLimit) canTake(held int) bool {
	return l.total <= 0 || l.busy < l.total-l.reserved || (held == 0 && l.busy < l.total)
}

// acquire takes a slot for client, waiting in line until ctx ends or the
// queue timeout passes. It returns errClientBusy at once if client already
// holds or waits for its share, errBusy after the timeout, or ctx's error.
// Each slot taken must be given back with release.
func (l *streamLimit) acquire(ctx context.Context, client string) error {
	l.mu.Lock()
	c := l.clients[client]
	if l.perClient > 0 && c.held+c.waiting >= l.perClient {
		l.mu.Unlock()
		return errClientBusy
	}
	if l.canTake(c.held) {
		l.busy++
		c.held++
		l.clients[client] = c
		l.mu.Unlock()
		return nil
	}
	w := &streamWaiter{client: client, ready: make(chan struct{})}
	e := l.waiting.PushBack(w)
	c.waiting++
	l.clients[client] = c
	l.mu.Unlock()

	t := time.NewTimer(l.queue)
	defer t.Stop()
	err := errBusy
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-t.C:
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if w.granted {
		return nil
	}
	l.waiting.Remove(e)
	c = l.clients[client]
	c.waiting--
	l.put(client, c)
	return err
}

// release gives back a slot of client and hands it to the first request
// in line that may take it.
func (l *streamLimit) release(client string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.busy--
	c := l.clients[client]
	c.held--
	l.put(client, c)
	for e := l.waiting.Front(); e != nil && (l.total <= 0 || l.busy < l.total); {
		next := e.Next()
		w := e.Value.(*streamWaiter)
		if c := l.clients[w.client]; l.canTake(c.held) {
			l.waiting.Remove(e)
			l.busy++
			c.held++
			c.waiting--
			l.clients[w.client] = c
			w.granted = true
			close(w.ready)
		}
		e = next
	}
}

// put stores client's counts, dropping a client with none. l.mu must be
// held.
func (l *streamLimit) put(client string, c clientStreams) {
	if c == (clientStreams{}) {
		delete(l.clients, client)
		return
	}
	l.clients[client] = c
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

// sender writes a NAR response and sets its write deadlines, so that a
// client that stops reading, or reads too slowly, is cut off and frees
// what its stream holds. It needs no goroutine or timer of its own: the
// deadlines are the connection's, moved before every write. (The
// server's read deadline is no concern: net/http lifts it once a
// bodiless request is read.)
//
// Every write must complete within timeout. With minRate > 0 the client
// must also take minRate bytes a second: the time spent blocked in
// writes, which is time the server waits for the client alone, is cut
// into windows of window; the first is a grace period (TCP slow start,
// socket buffers filling), and each later one must see minRate*window
// bytes written, else the write in progress at its end fails. Time
// spent reading the NAR from the repository does not count, so a slow
// backend never gets a client cut.
type sender struct {
	w       http.ResponseWriter
	ctl     *http.ResponseController
	timeout time.Duration
	minRate int64 // bytes/s; 0: none
	window  time.Duration

	blocked  time.Duration // time spent in writes in the current window
	sent     int64         // bytes written in the current window
	grace    bool          // the current window is the first
	rateDead bool          // the deadline set is the window's, not timeout's
	onCut    func(sent int64)
}

func newSender(w http.ResponseWriter, timeout time.Duration, minRate int64, window time.Duration, onCut func(sent int64)) *sender {
	return &sender{w: w, ctl: http.NewResponseController(w), timeout: timeout,
		minRate: minRate, window: window, grace: true, onCut: onCut}
}

// next sets the deadline of the coming write, or of the final flush.
func (s *sender) next() {
	d := s.timeout
	s.rateDead = false
	if s.minRate > 0 {
		left := s.window - s.blocked
		if s.grace || s.sent >= s.need() {
			// This window is done with: the write may run into the next.
			left += s.window
		}
		if left < d {
			d, s.rateDead = left, true
		}
	}
	s.ctl.SetWriteDeadline(time.Now().Add(d))
}

// need is the bytes a window must see.
func (s *sender) need() int64 { return int64(float64(s.minRate) * s.window.Seconds()) }

func (s *sender) Write(p []byte) (int, error) {
	s.next()
	start := time.Now()
	n, err := s.w.Write(p)
	if s.minRate == 0 {
		return n, err
	}
	s.sent += int64(n)
	if err != nil && s.rateDead && errors.Is(err, os.ErrDeadlineExceeded) && s.onCut != nil {
		s.onCut(s.sent)
		s.onCut = nil
	}
	for s.blocked += time.Since(start); s.blocked >= s.window; s.blocked -= s.window {
		s.grace, s.sent = false, 0
	}
	return n, err
}

// clientKey names the client of r for the per-client stream bound: its
// IP address, or for IPv6 its /64, which one host or home network
// usually holds whole. The server has no trusted proxy option, so this
// is the address of the TCP peer.
func clientKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}
