package gnudeflate

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
)

// Geometry of gzip's matcher. The window holds two halves of wSize bytes;
// input is read into it until it is full, and the upper half slides down
// when the match position nears its end.
const (
	wSize      = 1 << 15
	wMask      = wSize - 1
	windowSize = 2 * wSize

	hashBits  = 15
	hashSize  = 1 << hashBits
	hashMask  = hashSize - 1
	hashShift = (hashBits + minMatch - 1) / minMatch

	minMatch = 3
	maxMatch = 258
	// lookaheadMin is what the matcher wants ahead of the current
	// position: a longest match plus the string that follows it.
	lookaheadMin = maxMatch + minMatch + 1
	// maxDist is the farthest a match may reach back.
	maxDist = wSize - lookaheadMin
	// tooFar is the distance beyond which the lazy matcher drops a
	// match of length minMatch.
	tooFar = 4096

	// windowPad keeps the reads of a match comparison or a hash update
	// that run past the data at the end of the input inside the array.
	windowPad = 16
)

// tuning is one row of gzip's per-level table.
type tuning struct {
	good  int // search a quarter of the chain when the previous match is this long
	lazy  int // levels 4-9: no lazy search past this length; levels 1-3: insert matches up to this length
	nice  int // stop searching at a match this long
	chain int // longest hash chain followed
}

var levels = [10]tuning{
	1: {4, 4, 8, 4},
	2: {4, 5, 16, 8},
	3: {4, 6, 32, 32},
	4: {4, 4, 16, 16},
	5: {8, 16, 32, 32},
	6: {8, 16, 128, 128},
	7: {8, 32, 128, 256},
	8: {32, 128, 258, 1024},
	9: {32, 258, 258, 4096},
}

var errClosed = errors.New("gnudeflate: write to a closed Writer")

// A Writer compresses what is written to it into a raw deflate stream,
// exactly as GNU gzip would. Its zero value is not usable: call NewWriter.
type Writer struct {
	level int
	tune  tuning

	closed  bool // Close was called: the input ends with what was written
	started bool // the first read completed and the hash was primed
	done    bool // the last block was written

	window [windowSize + windowPad]byte
	head   [hashSize]uint16 // latest position of each hash, 0 for none
	prev   [wSize]uint16    // previous position with the same hash

	pos        int   // current position in the window (gzip's strstart)
	ahead      int   // bytes of input from pos on (gzip's lookahead)
	atEOF      bool  // the input has ended
	hash       int   // running hash of the bytes at pos
	blockStart int   // window position where the current block began; negative once slid away
	matchPos   int   // where the last match found starts
	steps      int64 // earlier positions compared since Reset (Steps)

	// The read in progress: gzip asks for readWant bytes at the end of
	// the data and proceeds only once a read returns; readGot is how many
	// have been copied in so far.
	readWant int
	readGot  int

	// Lazy matcher state, kept between steps.
	matchLen  int // length of the match at pos-1 being held back
	prevLen   int
	prevMatch int
	pending   bool // the byte at pos-1 is not yet emitted

	blk block
}

// NewWriter returns a Writer that compresses what is written to it, at
// level 1-9, into the raw deflate stream (RFC 1951) that `gzip -LEVEL -n`
// writes between its header and trailer.
func NewWriter(w io.Writer, level int) (*Writer, error) {
	z := new(Writer)
	if err := z.Reset(w, level); err != nil {
		return nil, err
	}
	return z, nil
}

// Reset discards the Writer's state and makes it compress a new stream to
// w at level, reusing its buffers.
func (z *Writer) Reset(w io.Writer, level int) error {
	if level < 1 || level > 9 {
		return fmt.Errorf("gnudeflate: compression level %d is not in 1-9", level)
	}
	z.level, z.tune = level, levels[level]
	z.closed, z.started, z.done = false, false, false
	// A fresh gzip process starts with zeroed buffers, and the matcher
	// may look at window bytes past the data at the end of the input.
	clear(z.window[:])
	clear(z.head[:])
	clear(z.prev[:])
	z.pos, z.ahead, z.atEOF, z.hash, z.blockStart, z.matchPos = 0, 0, false, 0, 0, 0
	z.steps = 0
	z.readWant, z.readGot = 0, 0
	z.matchLen, z.prevLen, z.prevMatch, z.pending = minMatch-1, minMatch-1, 0, false
	z.blk.reset(w)
	return nil
}

// Write compresses p. It keeps what gzip would not yet have read and
// compresses it once more input or Close arrives.
func (z *Writer) Write(p []byte) (int, error) {
	if z.blk.out.err != nil {
		return 0, z.blk.out.err
	}
	if z.closed {
		return 0, errClosed
	}
	z.run(p)
	if z.blk.out.err != nil {
		return 0, z.blk.out.err
	}
	return len(p), nil
}

// Close compresses what is left, writes the last block and flushes it to
// the underlying writer, which it does not close.
func (z *Writer) Close() error {
	if z.closed {
		return z.blk.out.err
	}
	z.closed = true
	if z.blk.out.err != nil {
		return z.blk.out.err
	}
	z.run(nil)
	z.blk.out.flush()
	return z.blk.out.err
}

// run compresses as far as the input allows: until gzip's next read could
// not be answered in full from in, or to the end once the Writer is closed.
func (z *Writer) run(in []byte) {
	if !z.started {
		for z.ahead < lookaheadMin && !z.atEOF {
			if in = z.fill(in); z.readWant != 0 {
				return
			}
		}
		z.hash = (int(z.window[0])<<hashShift ^ int(z.window[1])) & hashMask
		z.started = true
	}
	for !z.done && z.blk.out.err == nil {
		for z.ahead < lookaheadMin && !z.atEOF {
			if in = z.fill(in); z.readWant != 0 {
				return
			}
		}
		if z.ahead == 0 {
			z.finish()
			return
		}
		if z.level <= 3 {
			z.stepGreedy()
		} else {
			z.stepLazy()
		}
	}
}

// fill performs (or goes on with) one of gzip's reads into the window:
// it slides the window if the position nears its end, then asks for all
// the room left. The read completes once that much input has arrived or
// the input has ended; until then readWant stays set. fill returns what is
// left of in.
func (z *Writer) fill(in []byte) []byte {
	end := z.pos + z.ahead
	if z.readWant == 0 {
		if z.pos >= wSize+maxDist {
			z.slide()
			end -= wSize
		}
		z.readWant, z.readGot = windowSize-end, 0
	}
	n := copy(z.window[end+z.readGot:end+z.readWant], in)
	z.readGot += n
	in = in[n:]
	if z.readGot < z.readWant && !z.closed {
		return in
	}
	if z.readGot == 0 {
		z.atEOF = true
		// gzip clears the bytes a hash update reads past the end.
		z.window[end], z.window[end+1] = 0, 0
	} else {
		z.ahead += z.readGot
	}
	z.readWant, z.readGot = 0, 0
	return in
}

// slide moves the upper half of the window down and rebases the hash
// tables, dropping positions that fall off the start.
func (z *Writer) slide() {
	copy(z.window[:wSize], z.window[wSize:windowSize])
	z.matchPos -= wSize
	z.pos -= wSize
	z.blockStart -= wSize
	for i, p := range z.head {
		z.head[i] = rebase(p)
	}
	for i, p := range z.prev {
		z.prev[i] = rebase(p)
	}
}

func rebase(p uint16) uint16 {
	if p >= wSize {
		return p - wSize
	}
	return 0
}

// insert adds the string at position p to the hash chains and returns the
// previous position with the same hash, 0 if none.
func (z *Writer) insert(p int) int {
	z.hash = (z.hash<<hashShift ^ int(z.window[p+minMatch-1])) & hashMask
	older := z.head[z.hash]
	z.prev[p&wMask] = older
	z.head[z.hash] = uint16(p)
	return int(older)
}

// canMatch reports whether a match search from candidate is allowed at
// the current position.
func (z *Writer) canMatch(candidate int) bool {
	return candidate != 0 && z.pos-candidate <= maxDist && z.pos <= windowSize-lookaheadMin
}

// stepGreedy is one step of the matcher of levels 1-3: take the longest
// match at pos if there is one, else a literal.
func (z *Writer) stepGreedy() {
	candidate := z.insert(z.pos)
	if z.canMatch(candidate) {
		z.matchLen = min(z.longestMatch(candidate, minMatch-1), z.ahead)
	}
	var full bool
	if z.matchLen >= minMatch {
		n := z.matchLen
		full = z.match(z.pos-z.matchPos, n)
		z.ahead -= n
		if n <= z.tune.lazy {
			// Short match: hash every string inside it.
			for range n - 1 {
				z.pos++
				z.insert(z.pos)
			}
			z.pos++
		} else {
			z.pos += n
			z.hash = (int(z.window[z.pos])<<hashShift ^ int(z.window[z.pos+1])) & hashMask
		}
		z.matchLen = 0
	} else {
		full = z.literal(z.window[z.pos])
		z.ahead--
		z.pos++
	}
	if full {
		z.endBlock(false)
	}
}

// stepLazy is one step of the matcher of levels 4-9: a match found at
// pos-1 is emitted only if the match at pos is no longer.
func (z *Writer) stepLazy() {
	candidate := z.insert(z.pos)
	z.prevLen, z.prevMatch = z.matchLen, z.matchPos
	z.matchLen = minMatch - 1
	if z.prevLen < z.tune.lazy && z.canMatch(candidate) {
		z.matchLen = min(z.longestMatch(candidate, z.prevLen), z.ahead)
		if z.matchLen == minMatch && z.pos-z.matchPos > tooFar {
			z.matchLen--
		}
	}
	switch {
	case z.prevLen >= minMatch && z.matchLen <= z.prevLen:
		full := z.match(z.pos-1-z.prevMatch, z.prevLen)
		// Hash the strings inside the match; pos-1 and pos already are.
		z.ahead -= z.prevLen - 1
		for range z.prevLen - 2 {
			z.pos++
			z.insert(z.pos)
		}
		z.pending = false
		z.matchLen = minMatch - 1
		z.pos++
		if full {
			z.endBlock(false)
		}
	case z.pending:
		if z.literal(z.window[z.pos-1]) {
			z.endBlock(false)
		}
		z.pos++
		z.ahead--
	default:
		z.pending = true
		z.pos++
		z.ahead--
	}
}

// longestMatch follows the hash chain from candidate and returns the
// length of the longest match at pos longer than best, setting matchPos;
// it returns best if there is none.
func (z *Writer) longestMatch(candidate, best int) int {
	chain := z.tune.chain
	if best >= z.tune.good {
		chain >>= 2
	}
	// gzip 1.12 does not lower nice to the bytes left at the end of the
	// input (1.13 does), so near the end it may go on searching for a
	// match longer than what is left, and pick a farther one.
	nice := z.tune.nice
	limit := 0
	if z.pos > maxDist {
		limit = z.pos - maxDist
	}
	w := z.window[:]
	s := z.pos
	head := le16(w[s:])
	tail := le16(w[s+best-1:])
	steps := int64(0)
	for {
		steps++
		// Equal hashes imply an equal third byte, so it is not compared
		// (past the end of the input it may differ, and gzip ignores it).
		if le16(w[candidate+best-1:]) == tail && le16(w[candidate:]) == head {
			n := matchLen(w[s:], w[candidate:])
			if n > best {
				z.matchPos, best = candidate, n
				if n >= nice {
					break
				}
				tail = le16(w[s+best-1:])
			}
		}
		candidate = int(z.prev[candidate&wMask])
		if candidate <= limit {
			break
		}
		if chain--; chain == 0 {
			break
		}
	}
	z.steps += steps
	return best
}

// Steps returns how many earlier positions the matcher has compared with
// the input since the last Reset: the part of the encoder's work that
// depends on the data (up to the level's chain length, 4096 at level 9,
// for every byte), for callers that bound what remaking a stream costs
// without timing it.
func (z *Writer) Steps() int64 { return z.steps }

// matchLen returns how far a and b agree from their fourth byte on, up to
// maxMatch.
func matchLen(a, b []byte) int {
	a, b = a[:maxMatch+5], b[:maxMatch+5]
	for n := minMatch; n < maxMatch; n += 8 {
		if x := le64(a[n:]) ^ le64(b[n:]); x != 0 {
			return min(n+bits.TrailingZeros64(x)/8, maxMatch)
		}
	}
	return maxMatch
}

func le16(b []byte) uint16 { return binary.LittleEndian.Uint16(b) }
func le64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }

// endBlock writes the block that ends at pos and starts the next one.
func (z *Writer) endBlock(last bool) {
	var stored []byte
	if z.blockStart >= 0 {
		stored = z.window[z.blockStart:z.pos]
	}
	z.blk.write(stored, z.pos-z.blockStart, last)
	z.blockStart = z.pos
}

// finish emits the byte the lazy matcher still holds and the last block.
func (z *Writer) finish() {
	if z.pending {
		z.literal(z.window[z.pos-1])
		z.pending = false
	}
	z.endBlock(true)
	z.done = true
}
