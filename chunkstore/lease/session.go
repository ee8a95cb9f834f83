package lease

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/repo/layout"
)

// SessionsPrefix is where running writers announce themselves.
var SessionsPrefix = layout.Session.Prefix()

// Defaults of SessionOptions.
const (
	DefaultHeartbeat = 30 * time.Second
	DefaultLease     = 10 * time.Minute
)

// ErrLeaseExpired is returned by CheckLease when a session could not renew
// its announcement in time: a garbage collection may take it for dead.
var ErrLeaseExpired = errors.New("chunkstore: session lease expired")

// SessionOptions configure a Session.
type SessionOptions struct {
	Kind string // "ingest", "gc", …
	// Heartbeat is how often the session reloads the index and the
	// condemned list (Sync) and renews its announcement (default 30s).
	Heartbeat time.Duration
	// Lease is how long an announcement stands without renewal (default
	// 10m). A garbage collection takes a session whose announcement is
	// older for dead; the session itself refuses new references (see
	// CheckLease) once half of it has passed without a renewal.
	Lease time.Duration
}

// SessionInfo is what a session announces, in "sessions/<id>".
type SessionInfo struct {
	ID   string `json:"id"`
	Kind string `json:"kind"`
	Host string `json:"host"`
	PID  int    `json:"pid"`
	// Boot identifies the machine's current boot (Linux's boot_id), so
	// that a process on the same machine can tell the announcement of a
	// process that is gone (see Dead).
	Boot    string    `json:"boot,omitempty"`
	Started time.Time `json:"started"`
	// Views are the condemned lists (by id, "" for none) that the
	// session's current lookups and its operations in progress honour.
	Views []string `json:"views"`
	// Lease is the session's lease, in seconds.
	Lease float64 `json:"lease"`
	// ModTime is when the announcement was last renewed, by the
	// backend's clock (from the object, not from its content).
	ModTime time.Time `json:"-"`
}

// Store is the store whose view a session keeps fresh, as
// chunkstore.Store.StartSession passes it.
type Store interface {
	// Sync loads the repository's index objects and condemned list, and
	// passes the list to the store's Writer (Writer.Load). A session
	// calls it when it starts.
	Sync(ctx context.Context) error
	// Reload does what Sync does, on every heartbeat, as the store's own
	// reloads of the index do.
	Reload(ctx context.Context) error
	// Seal stores the store's open pack, whatever its size.
	Seal()
}

// Session announces a running writer to garbage collection and keeps its
// view of the repository fresh. Open one for the life of any process that
// stores chunks or narinfos while a collection may run.
type Session struct {
	be   backend.Backend
	st   Store
	w    *Writer
	opts SessionOptions
	info SessionInfo
	key  string

	mu       sync.Mutex
	lastBeat time.Time // local clock, end of the last renewal
	beatErr  error

	stop chan struct{}
	done chan struct{}
}

// StartSession announces this process on be, then keeps the announcement
// and the view of st, whose side of the protocol is w, fresh until Close.
func (w *Writer) StartSession(ctx context.Context, be backend.Backend, st Store, opts SessionOptions) (*Session, error) {
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = DefaultHeartbeat
	}
	if opts.Lease <= 0 {
		opts.Lease = DefaultLease
	}
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	id := hex.EncodeToString(rnd[:])
	ss := &Session{be: be, st: st, w: w, opts: opts, key: layout.Key(layout.Session, id),
		info: SessionInfo{ID: id, Kind: opts.Kind, Host: host, PID: os.Getpid(), Boot: bootID(),
			Started: time.Now().UTC(), Lease: opts.Lease.Seconds()},
		stop: make(chan struct{}), done: make(chan struct{})}
	// Announce first, then load the view: a collection that misses the
	// announcement wrote its list before this Sync, which then sees it.
	if err := ss.announce(ctx); err != nil {
		return nil, err
	}
	if err := st.Sync(ctx); err != nil {
		ss.remove(ctx)
		return nil, err
	}
	if err := ss.announce(ctx); err != nil {
		ss.remove(ctx)
		return nil, err
	}
	w.session.Store(ss)
	go ss.loop()
	return ss, nil
}

// ID returns the session's id.
func (ss *Session) ID() string { return ss.info.ID }

func (ss *Session) announce(ctx context.Context) error {
	ss.info.Views = ss.w.Views()
	data, err := json.Marshal(ss.info)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, ss.opts.Lease/4)
	defer cancel()
	err = backend.PutBytes(ctx, ss.be, ss.key, data)
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if err != nil {
		ss.beatErr = err
		return wrap(ss.be, "announce session "+ss.key, err)
	}
	ss.lastBeat = time.Now()
	ss.beatErr = nil
	return nil
}

// Beat reloads the view and renews the announcement now. When the view
// changed (a collection condemned objects), it also seals the open pack,
// so that the operations holding the old view can finish and the
// collection need not wait for the pack to fill.
func (ss *Session) Beat(ctx context.Context) error {
	before := ss.w.View()
	if err := ss.st.Reload(ctx); err != nil {
		return err
	}
	if ss.w.View() != before {
		ss.st.Seal()
	}
	return ss.announce(ctx)
}

func (ss *Session) loop() {
	defer close(ss.done)
	t := time.NewTicker(ss.opts.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ss.stop:
			return
		case <-t.C:
			ss.Beat(context.Background()) // a failure shows in CheckLease
		}
	}
}

// check returns ErrLeaseExpired if the last renewal is older than half the
// lease.
func (ss *Session) check() error {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if age := time.Since(ss.lastBeat); age > ss.opts.Lease/2 {
		return fmt.Errorf("%w: %s not renewed for %v (last error: %v)", ErrLeaseExpired, ss.key, age.Round(time.Second), ss.beatErr)
	}
	return nil
}

func (ss *Session) remove(ctx context.Context) error {
	err := ss.be.Delete(ctx, ss.key)
	if err != nil && !errors.Is(err, backend.ErrNotExist) {
		return wrap(ss.be, "remove session "+ss.key, err)
	}
	return nil
}

// Close ends the session and removes its announcement.
func (ss *Session) Close(ctx context.Context) error {
	close(ss.stop)
	<-ss.done
	ss.w.session.CompareAndSwap(ss, nil)
	return ss.remove(ctx)
}

// ListSessions returns every session announced in the repository.
// Announcements that cannot be read are returned with only ID and ModTime
// set and Kind "unknown", so that a caller errs on the side of caution.
func ListSessions(ctx context.Context, be backend.Backend) ([]SessionInfo, error) {
	var infos []SessionInfo
	err := layout.List(ctx, be, layout.Session, func(id string, fi backend.Info) error {
		info := SessionInfo{ID: id, Kind: "unknown", ModTime: fi.ModTime}
		data, err := backend.ReadAll(ctx, be, fi.Key)
		if errors.Is(err, backend.ErrNotExist) {
			return nil // ended meanwhile
		}
		if err != nil {
			return err
		}
		var got SessionInfo
		if json.Unmarshal(bytes.TrimSpace(data), &got) == nil && got.ID == id {
			info = got
			info.ModTime = fi.ModTime
		}
		infos = append(infos, info)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("chunkstore: list sessions on %s: %w", be, err)
	}
	return infos, nil
}

// bootID returns the machine's boot id, or "" where there is none.
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// Dead reports whether the announcement is of a process that has ended on
// this machine since its current boot: same host name and boot id, and no
// process with its pid. (A new process that took the pid keeps it looking
// alive: the lease then decides.)
func (si SessionInfo) Dead() bool {
	host, _ := os.Hostname()
	boot := bootID()
	if si.Boot == "" || boot == "" || si.Boot != boot || si.Host != host || si.PID <= 0 {
		return false
	}
	return !processAlive(si.PID)
}

func wrap(be backend.Backend, op string, err error) error {
	return fmt.Errorf("chunkstore: %s on %s: %w", op, be, err)
}
