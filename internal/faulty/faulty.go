// Package faulty wraps a backend.Backend and injects faults, for tests of
// error handling, retries and crash recovery.
//
// A Backend forwards every call to the wrapped backend unless a Rule
// matches it. Rules select calls by operation and key prefix and fire on
// the Nth matching call, for a number of calls; they can fail a call before
// it reaches the wrapped backend, fail it after it took effect (a lost
// acknowledgement), or cut a Get stream short. Counters record every call.
//
//	f := faulty.New(mem.New())
//	f.Inject(faulty.Rule{Op: faulty.OpPut, Prefix: "packs/", Nth: 3, Times: 1, Err: faulty.ErrNoSpace})
package faulty

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
)

// ErrInjected is the error a Rule returns when its Err is nil.
var ErrInjected = errors.New("faulty: injected fault")

// ErrNoSpace mimics a full disk: errors.Is(ErrNoSpace, syscall.ENOSPC).
var ErrNoSpace = fmt.Errorf("faulty: injected: %w", syscall.ENOSPC)

// Op names a Backend operation.
type Op int

// Operations that rules select and counters count.
const (
	OpAny Op = iota // in a Rule: every operation
	OpPut
	OpGet
	OpStat
	OpList
	OpDelete
	numOps
)

var opNames = [numOps]string{"any", "put", "get", "stat", "list", "delete"}

func (o Op) String() string {
	if o >= 0 && o < numOps {
		return opNames[o]
	}
	return fmt.Sprintf("Op(%d)", int(o))
}

// Kind says how a Rule fails a call.
type Kind int

const (
	// Fail returns Err without calling the wrapped backend.
	Fail Kind = iota
	// FailAfter calls the wrapped backend and then returns Err, whatever the
	// outcome: a Put or Delete took effect but the caller sees an error. For
	// Get the opened reader is closed.
	FailAfter
	// CutStream, for Get, lets Get succeed but makes its reader return Err
	// after CutAfter bytes. For Put, the wrapped backend's Put gets a reader
	// that fails with Err after CutAfter bytes of r, as a disk filling up
	// mid-write; the wrapped backend must then store nothing.
	CutStream
	// Truncate (Get only) lets Get succeed but makes its reader end with
	// io.EOF after CutAfter bytes, as a broken backend returning short data.
	Truncate
)

// Rule selects calls and says how to fail them.
type Rule struct {
	// Op selects the operation; OpAny selects all.
	Op Op
	// Prefix selects calls whose key starts with it ("" selects all). For
	// List the key is the listing's prefix.
	Prefix string
	// Nth is the first matching call that fails, counting from 1 (0 means
	// 1). Calls before it pass through.
	Nth int
	// Times is how many matching calls fail from the Nth on; 0 means all.
	Times int
	// Kind says how the call fails.
	Kind Kind
	// Err is the error returned; nil means ErrInjected.
	Err error
	// CutAfter is how many bytes a CutStream or Truncate reader yields.
	// Rules of those kinds select only the operations they apply to.
	CutAfter int64
}

// rule is a Rule with its count of matching calls.
type rule struct {
	Rule
	seen int
}

// match reports whether r applies to call number seen+1 of op on key, and
// counts the call if it matches the selection.
func (r *rule) match(op Op, key string) bool {
	if (r.Op != OpAny && r.Op != op) || !strings.HasPrefix(key, r.Prefix) {
		return false
	}
	if (r.Kind == CutStream && op != OpGet && op != OpPut) || (r.Kind == Truncate && op != OpGet) {
		return false
	}
	r.seen++
	first := max(r.Nth, 1)
	return r.seen >= first && (r.Times == 0 || r.seen < first+r.Times)
}

func (r *rule) err() error {
	if r.Err == nil {
		return ErrInjected
	}
	return r.Err
}
