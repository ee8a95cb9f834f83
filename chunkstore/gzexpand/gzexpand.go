package gzexpand

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/nardedup/nardedup/internal/gnudeflate"
)

// MinStream is the shortest deflate stream Expand replaces: for shorter
// ones the record costs about what xz would save.
const MinStream = 64

// gzip member header (RFC 1952).
const (
	gzID1, gzID2, gzDeflate = 0x1f, 0x8b, 8
	gzHeaderLen             = 10
	flagHCRC                = 1 << 1
	flagExtra               = 1 << 2
	flagName                = 1 << 3
	flagComment             = 1 << 4
	flagReserved            = 0xe0
	// xfl values GNU gzip writes for its fastest and slowest levels.
	xflSlowest, xflFastest = 2, 4
)

var gzMagic = []byte{gzID1, gzID2, gzDeflate}

// member is one replaced stream.
type member struct {
	lit, level, raw, stream int
}

// Bounds on what remaking a frame's streams may cost its readers, who pay
// it at every first read of the frame, counted in the matcher's steps
// (gnudeflate.Writer.Steps), which do not depend on the machine or its
// load: real gzip files take a few steps per byte (up to about 60), data
// built for long hash chains up to 4096 at level 9. Expand keeps
// compressed a stream whose remaking takes more than maxStepsPerByte steps
// per decompressed byte, and every stream after the frame's first
// maxFrameSteps; trying levels, most of which fail, stops for good after
// maxTrialSteps, which bounds what a frame built to look like gzip's
// streams costs garbage collection.
var (
	maxStepsPerByte int64 = 256
	maxFrameSteps   int64 = 1 << 30
	maxTrialSteps   int64 = 4 << 30
)

// Expand returns the expanded form of frame, at most maxSize bytes long,
// and the number of deflate streams it replaced; with none replaced it
// returns nil and 0. It inflates at most four times the frame's length in
// all, so data built to look like many gzip members costs bounded work,
// and bounds what remaking them costs (maxStepsPerByte, maxFrameSteps).
func Expand(frame []byte, maxSize int) ([]byte, int) {
	// The budget leaves room for the count of members; each member's
	// record is charged as it is added.
	e := expander{frame: frame, budget: maxSize - len(frame) - binary.MaxVarintLen64, inflateLeft: 4*int64(len(frame)) + 1<<20,
		remakeLeft: maxFrameSteps, trialsLeft: maxTrialSteps}
	defer e.release()
	e.scan()
	if len(e.members) == 0 {
		return nil, 0
	}
	return e.encode(), len(e.members)
}

type expander struct {
	frame       []byte
	budget      int   // bytes the expanded form may still grow by
	inflateLeft int64 // bytes inflate may still produce
	remakeLeft  int64 // matcher steps remaking the streams replaced may still take
	trialsLeft  int64 // matcher steps trying levels may still take
	members     []member
	raws        [][]byte
	fr          io.ReadCloser
	br          bytes.Reader
	buf         bytes.Buffer
	z           *gnudeflate.Writer
}

func (e *expander) release() {
	if e.z != nil {
		deflaters.Put(e.z)
	}
}

// scan finds the members, from the start of the frame.
func (e *expander) scan() {
	f := e.frame
	litStart := 0
	for i := 0; i+gzHeaderLen < len(f); {
		j := bytes.Index(f[i:], gzMagic)
		if j < 0 || e.inflateLeft <= 0 || e.budget <= 0 || e.remakeLeft <= 0 || e.trialsLeft <= 0 {
			return
		}
		p := i + j
		i = p + 1
		q, xfl, ok := headerEnd(f, p)
		if !ok {
			continue
		}
		raw, n, ok := e.inflate(f[q:])
		if !ok || n < MinStream {
			continue
		}
		level, steps, ok := e.remake(raw, f[q:q+n], xfl)
		if !ok || steps > maxStepsPerByte*int64(len(raw)) {
			// A stream that inflates but is not gzip's, or too slow to
			// remake: skip all of it.
			i = q + n
			continue
		}
		e.remakeLeft -= steps
		e.members = append(e.members, member{lit: q - litStart, level: level, raw: len(raw), stream: n})
		e.raws = append(e.raws, bytes.Clone(raw))
		e.budget -= len(raw) - n + 4*binary.MaxVarintLen64
		litStart = q + n
		i = litStart
	}
}

// headerEnd parses the gzip member header at f[p:] and returns where its
// deflate stream starts and its XFL byte.
func headerEnd(f []byte, p int) (q int, xfl byte, ok bool) {
	if len(f)-p < gzHeaderLen {
		return 0, 0, false
	}
	flg := f[p+3]
	if flg&flagReserved != 0 {
		return 0, 0, false
	}
	xfl = f[p+8]
	q = p + gzHeaderLen
	if flg&flagExtra != 0 {
		if len(f)-q < 2 {
			return 0, 0, false
		}
		q += 2 + int(binary.LittleEndian.Uint16(f[q:]))
	}
	for _, fl := range []byte{flagName, flagComment} {
		if flg&fl == 0 || q >= len(f) {
			continue
		}
		z := bytes.IndexByte(f[q:], 0)
		if z < 0 {
			return 0, 0, false
		}
		q += z + 1
	}
	if flg&flagHCRC != 0 {
		q += 2
	}
	if q >= len(f) {
		return 0, 0, false
	}
	return q, xfl, true
}

// inflate decompresses the deflate stream at the start of s and returns
// its bytes (valid until the next call) and the stream's length, within
// the expander's budgets.
func (e *expander) inflate(s []byte) ([]byte, int, bool) {
	e.br.Reset(s) // a ByteReader: flate reads no further than the stream
	if e.fr == nil {
		e.fr = flate.NewReader(&e.br)
	} else if err := e.fr.(flate.Resetter).Reset(&e.br, nil); err != nil {
		return nil, 0, false
	}
	e.buf.Reset()
	limit := min(int64(e.budget), e.inflateLeft)
	n, err := e.buf.ReadFrom(io.LimitReader(e.fr, limit+1))
	e.inflateLeft -= n
	if err != nil || n > limit {
		return nil, 0, false
	}
	return e.buf.Bytes(), len(s) - e.br.Len(), true
}

// remake finds the level at which gnudeflate writes stream from raw,
// trying first the levels xfl points to, and the matcher steps writing it
// took.
func (e *expander) remake(raw, stream []byte, xfl byte) (int, int64, bool) {
	order := [...]int{6, 9, 1, 5, 4, 7, 8, 3, 2}
	switch xfl {
	case xflSlowest:
		order[0], order[1] = 9, 6
	case xflFastest:
		order[0], order[2] = 1, 6
	}
	for _, level := range order {
		if e.trialsLeft <= 0 {
			break
		}
		ok, err := e.try(raw, stream, level)
		if err != nil {
			break
		}
		steps := e.z.Steps()
		e.trialsLeft -= steps
		if ok {
			return level, steps, true
		}
	}
	return 0, 0, false
}

// try reports whether gnudeflate writes stream from raw at level.
func (e *expander) try(raw, stream []byte, level int) (bool, error) {
	c := &compareWriter{want: stream}
	if e.z == nil {
		e.z = newDeflater(c, level)
	} else if err := e.z.Reset(c, level); err != nil {
		return false, err
	}
	if _, err := e.z.Write(raw); err != nil {
		return false, nil
	}
	err := e.z.Close()
	return err == nil && c.off == len(stream), nil
}

// encode writes the expanded form.
func (e *expander) encode() []byte {
	size := binary.MaxVarintLen64 * (1 + 4*len(e.members))
	for i, m := range e.members {
		size += m.lit + len(e.raws[i])
	}
	b := make([]byte, 0, size+len(e.frame))
	b = binary.AppendUvarint(b, uint64(len(e.members)))
	for _, m := range e.members {
		for _, v := range []int{m.lit, m.level, m.raw, m.stream} {
			b = binary.AppendUvarint(b, uint64(v))
		}
	}
	off := 0
	for i, m := range e.members {
		b = append(b, e.frame[off:off+m.lit]...)
		b = append(b, e.raws[i]...)
		off += m.lit + m.stream
	}
	return append(b, e.frame[off:]...)
}

// errMismatch stops a trial at the first byte that differs.
var errMismatch = errors.New("gzexpand: stream differs")

// compareWriter checks what is written against want.
type compareWriter struct {
	want []byte
	off  int
}

func (c *compareWriter) Write(p []byte) (int, error) {
	if len(p) > len(c.want)-c.off || !bytes.Equal(p, c.want[c.off:c.off+len(p)]) {
		return 0, errMismatch
	}
	c.off += len(p)
	return len(p), nil
}

// deflaters recycles encoders, whose buffers are a few hundred KiB.
var deflaters sync.Pool // *gnudeflate.Writer

func newDeflater(w io.Writer, level int) *gnudeflate.Writer {
	if z, ok := deflaters.Get().(*gnudeflate.Writer); ok {
		if z.Reset(w, level) == nil {
			return z
		}
	}
	z, err := gnudeflate.NewWriter(w, level)
	if err != nil {
		panic(err) // levels here are 1-9
	}
	return z
}

// Restore remakes the frame of size bytes whose expanded form is exp,
// into dst's storage if it is large enough, and returns it. The streams
// are remade in parallel, each into its place in the frame.
func Restore(dst, exp []byte, size int) ([]byte, error) {
	members, data, err := parse(exp, size)
	if err != nil {
		return nil, err
	}
	if cap(dst) < size {
		dst = make([]byte, size)
	}
	out := dst[:size]
	jobs := make([]restoreJob, len(members))
	pos := 0
	for i, m := range members {
		pos += copy(out[pos:], data[:m.lit])
		jobs[i] = restoreJob{index: i, level: m.level, raw: data[m.lit : m.lit+m.raw], out: out[pos : pos+m.stream]}
		data = data[m.lit+m.raw:]
		pos += m.stream
	}
	copy(out[pos:], data)

	work := make(chan *restoreJob)
	errs := make(chan error, len(jobs))
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var z *gnudeflate.Writer
			for j := range work {
				w := &sliceWriter{b: j.out}
				if z == nil {
					z = newDeflater(w, j.level)
				} else if err := z.Reset(w, j.level); err != nil {
					errs <- err
					continue
				}
				if err := j.remake(z, w); err != nil {
					errs <- err
				}
			}
			if z != nil {
				deflaters.Put(z)
			}
		}()
	}
	for i := range jobs {
		work <- &jobs[i]
	}
	close(work)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	return out, nil
}

// restoreJob is one stream to remake into its place out.
type restoreJob struct {
	index, level int
	raw, out     []byte
}

func (j *restoreJob) remake(z *gnudeflate.Writer, w *sliceWriter) error {
	if _, err := z.Write(j.raw); err != nil {
		return fmt.Errorf("gzexpand: stream %d: %w", j.index, err)
	}
	if err := z.Close(); err != nil {
		return fmt.Errorf("gzexpand: stream %d: %w", j.index, err)
	}
	if w.n != len(j.out) {
		return fmt.Errorf("gzexpand: stream %d remade as %d bytes, want %d", j.index, w.n, len(j.out))
	}
	return nil
}

// parse reads the table of exp and checks that its lengths add up to a
// frame of size bytes; it returns the members and the bytes after the
// table.
func parse(exp []byte, size int) ([]member, []byte, error) {
	r := exp
	next := func() (int, bool) {
		v, n := binary.Uvarint(r)
		if n <= 0 || v > uint64(len(exp)) && v > uint64(size) {
			return 0, false
		}
		r = r[n:]
		return int(v), true
	}
	count, ok := next()
	// Each member's record takes at least four bytes.
	if !ok || count > len(r)/4 {
		return nil, nil, fmt.Errorf("gzexpand: bad member count")
	}
	members := make([]member, count)
	var lits, raws, streams int
	for i := range members {
		m := &members[i]
		var oks [4]bool
		m.lit, oks[0] = next()
		m.level, oks[1] = next()
		m.raw, oks[2] = next()
		m.stream, oks[3] = next()
		if oks != [4]bool{true, true, true, true} || m.level < 1 || m.level > 9 {
			return nil, nil, fmt.Errorf("gzexpand: bad record of stream %d", i)
		}
		lits += m.lit
		raws += m.raw
		streams += m.stream
		if lits > len(exp) || raws > len(exp) || streams > size {
			return nil, nil, fmt.Errorf("gzexpand: stream %d lies outside the frame", i)
		}
	}
	rest := len(r) - lits - raws
	if rest < 0 || lits+streams+rest != size {
		return nil, nil, fmt.Errorf("gzexpand: lengths make a frame of %d bytes, want %d", lits+streams+max(rest, 0), size)
	}
	return members, r, nil
}

// sliceWriter fills b, refusing to write past its end.
type sliceWriter struct {
	b []byte
	n int
}

func (w *sliceWriter) Write(p []byte) (int, error) {
	if len(p) > len(w.b)-w.n {
		return 0, fmt.Errorf("gzexpand: remade stream longer than %d bytes", len(w.b))
	}
	w.n += copy(w.b[w.n:], p)
	return len(p), nil
}
