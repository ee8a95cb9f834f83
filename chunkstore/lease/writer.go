package lease

import (
	"sync"
	"sync/atomic"

	"github.com/nardedup/nardedup/chunkstore/pack"
)

// Writer is one store's side of the protocol: the condemned list it has
// loaded last, the views of its operations in progress (Hold) and its
// session, if any. A store that writes consults it before it deduplicates
// against a pack or makes a new reference to an object. Its methods are
// safe for concurrent use.
type Writer struct {
	condemned atomic.Pointer[condemnedSet]
	holdMu    sync.Mutex
	holds     map[string]int // views of operations in progress (Hold)
	session   atomic.Pointer[Session]
}

// NewWriter returns a Writer that has loaded no condemned list.
func NewWriter() *Writer {
	w := &Writer{holds: make(map[string]int)}
	w.condemned.Store(newCondemnedSet(nil))
	return w
}

// condemnedSet is a loaded list, ready for lookups.
type condemnedSet struct {
	id    string
	packs map[pack.ID]struct{}
	keys  map[string]struct{}
}

func newCondemnedSet(c *Condemned) *condemnedSet {
	if c == nil {
		return &condemnedSet{}
	}
	cs := &condemnedSet{id: c.ID, packs: make(map[pack.ID]struct{}, len(c.Packs)),
		keys: make(map[string]struct{}, len(c.Objects))}
	for _, p := range c.Packs {
		cs.packs[p] = struct{}{}
	}
	for _, k := range c.Objects {
		cs.keys[k] = struct{}{}
	}
	return cs
}

// Load makes c (nil: none) the condemned list the writer honours. The
// store calls it each time it has reloaded the repository's index.
func (w *Writer) Load(c *Condemned) { w.condemned.Store(newCondemnedSet(c)) }

// Avoid reports whether pack is condemned in the list the writer has
// loaded: lookups prefer other copies, and a writer stores again a chunk
// found only there.
func (w *Writer) Avoid(pack pack.ID) bool {
	_, ok := w.condemned.Load().packs[pack]
	return ok
}

// IsCondemned reports whether the object key is condemned in the list the
// writer last loaded: a writer must not make new references to it.
func (w *Writer) IsCondemned(key string) bool {
	_, ok := w.condemned.Load().keys[key]
	return ok
}

// View names the condemned list the writer's lookups honour ("" for none).
func (w *Writer) View() string { return w.condemned.Load().id }

// Hold marks the start of an operation that may make new references to
// stored chunks or objects (storing a NAR, linking a narinfo to a stored
// NAR): until release is called, Views reports the view it started with.
// A garbage collection deletes what it condemned only once no operation
// started before its list was loaded is still running.
func (w *Writer) Hold() (release func()) {
	w.holdMu.Lock()
	v := w.View()
	w.holds[v]++
	w.holdMu.Unlock()
	var once bool
	return func() {
		w.holdMu.Lock()
		defer w.holdMu.Unlock()
		if once {
			return
		}
		once = true
		if w.holds[v]--; w.holds[v] == 0 {
			delete(w.holds, v)
		}
	}
}

// Views returns the current view and those of the operations still held.
func (w *Writer) Views() []string {
	w.holdMu.Lock()
	defer w.holdMu.Unlock()
	cur := w.View()
	vs := []string{cur}
	for v := range w.holds {
		if v != cur {
			vs = append(vs, v)
		}
	}
	return vs
}

// CheckLease returns an error wrapping ErrLeaseExpired if the writer's
// session has not renewed its announcement for half its lease: a garbage
// collection may soon take the process for dead, so it must not make new
// references. Without a session it returns nil.
func (w *Writer) CheckLease() error {
	if ss := w.session.Load(); ss != nil {
		return ss.check()
	}
	return nil
}
