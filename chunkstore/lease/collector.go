package lease

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/repo/layout"
)

// Collector is the collection's side of the protocol: it writes the
// condemned list, waits until every live writer honours it, and deletes
// it once the sweep is done. Package gc drives it; what to condemn and
// what to delete is gc's to decide.
type Collector struct {
	be backend.Backend
	ss *Session // nil in a dry run

	// Pending says why the last Wait has not finished, or is "" once it
	// has.
	Pending string
	// StaleSessions counts the announcements of dead writers removed.
	StaleSessions int
}

// NewCollector returns the collection's side of the protocol on be,
// announced by ss (nil for a dry run, which writes nothing).
func NewCollector(be backend.Backend, ss *Session) *Collector {
	return &Collector{be: be, ss: ss}
}

// Now returns the backend's clock: the time of an object it has just
// stored (the collection's session, renewed). A dry run, without a
// session, returns the local clock.
func (c *Collector) Now(ctx context.Context) (time.Time, error) {
	if c.ss == nil {
		return time.Now(), nil // a dry run writes nothing
	}
	if err := c.ss.Beat(ctx); err != nil {
		return time.Time{}, err
	}
	key := layout.Key(layout.Session, c.ss.ID())
	fi, err := c.be.Stat(ctx, key)
	if err != nil {
		return time.Time{}, fmt.Errorf("gc: stat %s: %w", key, err)
	}
	if fi.ModTime.IsZero() {
		return time.Time{}, fmt.Errorf("gc: %s does not tell when objects were stored", c.be)
	}
	return fi.ModTime, nil
}

// Alone fails if another collection's session is live.
func (c *Collector) Alone(ctx context.Context) error {
	now, err := c.Now(ctx)
	if err != nil {
		return err
	}
	sessions, err := ListSessions(ctx, c.be)
	if err != nil {
		return err
	}
	for _, s := range sessions {
		if s.Kind == "gc" && s.ID != c.ss.ID() && !s.Stale(now) {
			return fmt.Errorf("gc: another collection is running (session %s on %s, pid %d, since %s)",
				s.ID, s.Host, s.PID, s.Started.Format(time.RFC3339))
		}
	}
	return nil
}

// Stale reports whether a session is dead at now (by the backend's clock):
// its announcement is older than its lease, or its process has ended on
// this machine.
func (si SessionInfo) Stale(now time.Time) bool {
	if si.Dead() {
		return true
	}
	lease := time.Duration(si.Lease * float64(time.Second))
	if lease <= 0 {
		lease = DefaultLease
	}
	return now.Sub(si.ModTime) > lease
}

// Condemn writes cond as the repository's condemned list. Nothing is
// deleted: writers learn of it on their next heartbeat.
func (c *Collector) Condemn(ctx context.Context, cond *Condemned) error {
	if err := backend.PutBytes(ctx, c.be, CondemnedKey, cond.Encode()); err != nil {
		return fmt.Errorf("gc: write %s: %w", CondemnedKey, err)
	}
	return nil
}

// Finish deletes the condemned list once its sweep is done.
func (c *Collector) Finish(ctx context.Context) error {
	if err := c.be.Delete(ctx, CondemnedKey); err != nil && !errors.Is(err, backend.ErrNotExist) {
		return fmt.Errorf("gc: delete %s: %w", CondemnedKey, err)
	}
	return nil
}

// Wait waits until every live session honours cond alone, removing the
// announcements of dead ones, and polling every poll for at most wait
// (negative: not at all). It reports false when the time ran out first,
// with the reason in Pending; logf reports each poll.
func (c *Collector) Wait(ctx context.Context, cond *Condemned, wait, poll time.Duration, logf func(string, ...any)) (bool, error) {
	deadline := time.Now().Add(max(wait, 0))
	for {
		blockers, err := c.blockers(ctx, cond)
		if err != nil {
			return false, err
		}
		if len(blockers) == 0 {
			c.Pending = ""
			return true, nil
		}
		c.Pending = fmt.Sprintf("waiting for %d writer(s) to load condemned list %s: %s",
			len(blockers), cond.ID, strings.Join(blockers, ", "))
		if time.Now().After(deadline) {
			return false, nil
		}
		logf("%s", c.Pending)
		select {
		case <-time.After(poll):
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

// blockers removes the announcements of dead sessions and describes the
// live ones, other than the collection's, that do not honour cond alone.
func (c *Collector) blockers(ctx context.Context, cond *Condemned) ([]string, error) {
	now, err := c.Now(ctx)
	if err != nil {
		return nil, err
	}
	sessions, err := ListSessions(ctx, c.be)
	if err != nil {
		return nil, err
	}
	var blockers []string
	for _, s := range sessions {
		if s.ID == c.ss.ID() {
			continue
		}
		if s.Stale(now) {
			// Dead: a process that cannot renew its announcement
			// stops writing long before it goes stale.
			key := layout.Key(layout.Session, s.ID)
			if err := c.be.Delete(ctx, key); err != nil && !errors.Is(err, backend.ErrNotExist) {
				return nil, fmt.Errorf("gc: delete stale session %s: %w", key, err)
			}
			c.StaleSessions++
			continue
		}
		if !slices.Equal(s.Views, []string{cond.ID}) {
			blockers = append(blockers, fmt.Sprintf("%s %s on %s pid %d", s.Kind, s.ID, s.Host, s.PID))
		}
	}
	return blockers, nil
}
