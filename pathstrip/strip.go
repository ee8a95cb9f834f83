package pathstrip

import (
	"bytes"
	"encoding/binary"
	"io"

	"github.com/nardedup/nardedup/narfmt/nixbase32"
	"github.com/nardedup/nardedup/narfmt/storepath"
)

// flushAt is the size at which buffered position records are written out.
const flushAt = 4096

// Stripper cuts store path occurrences out of the bytes written to it. The
// residue goes to one writer, the position records to another; the distinct
// cut strings are available from Paths after Close. Once Options.MaxPaths
// distinct strings are listed, an occurrence of a string not in the list
// stays in the residue as plain bytes, so any input is accepted and memory
// stays bounded.
type Stripper struct {
	residue   io.Writer
	positions io.Writer
	prefix    []byte // storeDir + "/"
	mode      Mode
	maxPaths  int
	look      int    // bytes of lookahead that always decide an occurrence
	hold      []byte // undecided tail of earlier writes, < look bytes
	pos       []byte // position records not yet written
	index     map[string]int
	paths     []string
	cuts      int64
	gap       uint64 // residue bytes since the end of the last cut
	err       error
	closed    bool
}

// NewStripper returns a Stripper writing the residue and the positions part
// of the side table to the given writers.
func NewStripper(residue, positions io.Writer, opt Options) *Stripper {
	pre := []byte(opt.prefix())
	look := len(pre) + HashLen
	if opt.Mode == CutHashName {
		look += 1 + MaxNameLen + 1
	}
	return &Stripper{
		residue:   residue,
		positions: positions,
		prefix:    pre,
		mode:      opt.Mode,
		maxPaths:  opt.maxPaths(),
		look:      look,
		hold:      make([]byte, 0, 2*look),
		pos:       make([]byte, 0, flushAt+2*binary.MaxVarintLen64),
		index:     make(map[string]int),
	}
}

// Write strips p. Occurrences that straddle calls are found as if the input
// came in one piece; up to a few hundred undecided bytes are held back until
// the next Write or Close.
func (s *Stripper) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.closed {
		return 0, ErrClosed
	}
	q := p
	if h := len(s.hold); h > 0 {
		s.hold = append(s.hold, q[:min(len(q), s.look)]...)
		c, err := s.scan(s.hold, false)
		if err != nil {
			return 0, s.fail(err)
		}
		if c < h { // only when all of p fit into hold
			s.hold = s.hold[:copy(s.hold, s.hold[c:])]
			return len(p), nil
		}
		q = q[c-h:]
		s.hold = s.hold[:0]
	}
	c, err := s.scan(q, false)
	if err != nil {
		return 0, s.fail(err)
	}
	s.hold = append(s.hold, q[c:]...)
	return len(p), nil
}

// Close strips the held-back bytes and writes the terminator record. It does
// not close the underlying writers.
func (s *Stripper) Close() error {
	if s.closed {
		return s.err
	}
	s.closed = true
	if s.err != nil {
		return s.err
	}
	if _, err := s.scan(s.hold, true); err != nil {
		return s.fail(err)
	}
	s.hold = s.hold[:0]
	s.pos = binary.AppendUvarint(s.pos, s.gap)
	s.pos = append(s.pos, 0)
	if err := s.flush(); err != nil {
		return s.fail(err)
	}
	return nil
}

// Paths returns the distinct cut strings in order of first appearance.
func (s *Stripper) Paths() []string {
	return append([]string(nil), s.paths...)
}

// Cuts returns the number of occurrences cut so far.
func (s *Stripper) Cuts() int64 { return s.cuts }

func (s *Stripper) fail(err error) error {
	s.err = err
	return err
}

// scan strips buf and returns how many leading bytes it consumed. Unless
// final, it stops before a possible occurrence it cannot decide yet; every
// position with at least s.look bytes after it is decided.
func (s *Stripper) scan(buf []byte, final bool) (int, error) {
	start, pos := 0, 0
	for {
		i := bytes.Index(buf[pos:], s.prefix)
		if i < 0 {
			end := len(buf)
			if !final {
				end -= partialSuffix(buf[pos:], s.prefix)
			}
			return end, s.emit(buf[start:end])
		}
		j := pos + i
		end, st := s.match(buf, j, final)
		switch st {
		case noMatch:
			pos = j + 1
		case needMore:
			return j, s.emit(buf[start:j])
		default:
			i, ok := s.index[string(buf[j:end])]
			if !ok {
				if len(s.paths) >= s.maxPaths {
					// The list is full: the occurrence stays in the
					// residue as plain bytes.
					pos = end
					continue
				}
				i = s.add(buf[j:end])
			}
			if err := s.emit(buf[start:j]); err != nil {
				return j, err
			}
			if err := s.cut(i); err != nil {
				return j, err
			}
			start, pos = end, end
		}
	}
}

const (
	noMatch = iota
	needMore
	matched
)

// match decides whether an occurrence starts at buf[j:], which begins with
// the store dir prefix, and returns its end.
func (s *Stripper) match(buf []byte, j int, final bool) (int, int) {
	h := j + len(s.prefix)
	if len(buf)-h < HashLen {
		for _, c := range buf[h:] {
			if !nixbase32.ValidByte(c) {
				return 0, noMatch
			}
		}
		if final {
			return 0, noMatch
		}
		return 0, needMore
	}
	e := h + HashLen
	if !storepath.IsHash(buf[h:e]) {
		return 0, noMatch
	}
	if s.mode != CutHashName {
		return e, matched
	}
	if e == len(buf) && !final {
		return 0, needMore
	}
	if e == len(buf) || buf[e] != '-' {
		return e, matched
	}
	k, lim := e+1, min(len(buf), e+2+MaxNameLen)
	for k < lim && isName[buf[k]] {
		k++
	}
	switch n := k - e - 1; {
	case n > MaxNameLen:
		return e, matched
	case k == len(buf) && !final:
		return 0, needMore
	case n == 0:
		return e, matched
	}
	return k, matched
}

// partialSuffix returns the length of the longest suffix of b that is a
// proper prefix of pre.
func partialSuffix(b, pre []byte) int {
	for k := min(len(b), len(pre)-1); k > 0; k-- {
		if bytes.Equal(b[len(b)-k:], pre[:k]) {
			return k
		}
	}
	return 0
}

func (s *Stripper) emit(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	s.gap += uint64(len(b))
	n, err := s.residue.Write(b)
	if err == nil && n != len(b) {
		err = io.ErrShortWrite
	}
	return err
}

// add appends b to the distinct cut strings and returns its index.
func (s *Stripper) add(b []byte) int {
	i := len(s.paths)
	str := string(b)
	s.index[str] = i
	s.paths = append(s.paths, str)
	return i
}

// cut records an occurrence of the i-th cut string.
func (s *Stripper) cut(i int) error {
	s.pos = binary.AppendUvarint(s.pos, s.gap)
	s.pos = binary.AppendUvarint(s.pos, uint64(i)+1)
	s.gap = 0
	s.cuts++
	if len(s.pos) >= flushAt {
		return s.flush()
	}
	return nil
}

func (s *Stripper) flush() error {
	n, err := s.positions.Write(s.pos)
	if err == nil && n != len(s.pos) {
		err = io.ErrShortWrite
	}
	s.pos = s.pos[:0]
	return err
}
