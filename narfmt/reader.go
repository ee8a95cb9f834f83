package narfmt

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"strconv"
)

var _ io.Reader = (*Reader)(nil)

const magic = "nix-archive-1"

// bufSize is the size of the Reader's and Writer's buffers.
const bufSize = 64 << 10

// readState says what the Reader expects next in the stream.
type readState uint8

const (
	rsStart   readState = iota // before the magic
	rsFile                     // inside a regular file's contents
	rsNodeEnd                  // before the ")" closing a file or symlink node
	rsDir                      // inside a directory: "entry" or ")" next
)

// dirFrame is an open directory.
type dirFrame struct {
	path string
	prev string // last entry name read, for the order check
}

// Reader reads a NAR as a sequence of headers, in NAR order: depth-first,
// directory entries sorted by name. For regular files, Read returns the
// contents after Next returned the header.
//
// The Reader checks the stream as strictly as Nix does and produces *Error
// values naming the offset and entry of any problem. Errors are sticky.
// Memory use does not depend on the size of the NAR or of its files.
type Reader struct {
	br    *bufio.Reader
	off   int64 // bytes consumed from br
	err   error // sticky error; io.EOF once the NAR is done
	state readState
	stack []dirFrame
	path  string           // path of the current node
	left  int64            // rsFile: content bytes not yet read
	pad   int              // rsFile: padding after the contents
	buf   [MaxPathLen]byte // string data
}

// NewReader returns a Reader reading a NAR from r. Errors in the data,
// including a bad magic, surface on the first call to Next.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, bufSize)}
}

// Next advances to the next entry and returns its header. Unread contents
// of the previous regular file are discarded (and still checked). Next
// returns io.EOF once the root node is closed and the stream is verified
// to end there.
func (r *Reader) Next() (*Header, error) {
	if r.err != nil {
		return nil, r.err
	}
	h, err := r.next()
	if err != nil {
		r.err = err
		return nil, err
	}
	return h, nil
}

// Read reads from the contents of the current regular file. It returns
// (0, io.EOF) at the end of the contents, and when the current entry is not
// a regular file.
func (r *Reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.state != rsFile || r.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n, err := r.br.Read(p)
	r.off += int64(n)
	r.left -= int64(n)
	if err != nil {
		if n > 0 && err == io.EOF {
			err = nil // reported on the next call
		} else {
			r.err = r.ioError(err, r.off, "file contents")
			return n, r.err
		}
	}
	return n, nil
}

func (r *Reader) next() (*Header, error) {
	switch r.state {
	case rsStart:
		return r.start()
	case rsFile:
		if err := r.skipContents(); err != nil {
			return nil, err
		}
		r.state = rsNodeEnd
		fallthrough
	case rsNodeEnd:
		if err := r.expect(")"); err != nil {
			return nil, err
		}
		if err := r.nodeDone(); err != nil {
			return nil, err
		}
	}
	return r.dirNext()
}

// start reads the magic and the root node.
func (r *Reader) start() (*Header, error) {
	off := r.off
	s, err := r.readString(maxTokenLen, "magic")
	if err != nil {
		return nil, err
	}
	if s != magic {
		return nil, invalidf(off, "", "bad magic %q; want %q", s, magic)
	}
	return r.readNode("/")
}

// dirNext reads from the open directory on top of the stack until the next
// entry's node starts, closing finished directories on the way.
func (r *Reader) dirNext() (*Header, error) {
	for {
		if len(r.stack) == 0 {
			return nil, io.EOF
		}
		top := &r.stack[len(r.stack)-1]
		r.path = top.path
		off := r.off
		tok, err := r.readToken(`token "entry" or ")"`)
		if err != nil {
			return nil, err
		}
		switch tok {
		case "entry":
			return r.readEntry(top)
		case ")":
			r.stack = r.stack[:len(r.stack)-1]
			if err := r.nodeDone(); err != nil {
				return nil, err
			}
		default:
			return nil, invalidf(off, r.path, "got token %q; want \"entry\" or \")\"", tok)
		}
	}
}

// readEntry reads a directory entry up to its node and returns the node.
func (r *Reader) readEntry(top *dirFrame) (*Header, error) {
	if err := r.expect("("); err != nil {
		return nil, err
	}
	if err := r.expect("name"); err != nil {
		return nil, err
	}
	off := r.off
	b, err := r.readBytes(MaxNameLen, "entry name", false)
	if err != nil {
		return nil, err
	}
	path := childPath(top.path, string(b))
	name := path[len(path)-len(b):]
	if msg := checkName(name); msg != "" {
		return nil, invalidf(off, top.path, "%s", msg)
	}
	switch {
	case name == top.prev:
		return nil, invalidf(off, path, "duplicate entry name")
	case name < top.prev:
		return nil, invalidf(off, path, "entry names not sorted (after %q)", top.prev)
	case len(path) > MaxPathLen:
		return nil, invalidf(off, top.path, "path length %d exceeds limit %d", len(path), MaxPathLen)
	}
	top.prev = name
	r.path = path
	if err := r.expect("node"); err != nil {
		return nil, err
	}
	return r.readNode(path)
}

// nodeDone is called after the ")" closing a node. Below the root it reads
// the ")" closing the directory entry; after the root it checks that the
// stream ends.
func (r *Reader) nodeDone() error {
	if len(r.stack) > 0 {
		r.path = r.stack[len(r.stack)-1].path
		r.state = rsDir
		return r.expect(")")
	}
	r.path = ""
	off := r.off
	if _, err := r.br.ReadByte(); err != io.EOF {
		if err != nil {
			return r.ioError(err, off, "end of stream")
		}
		return invalidf(off, "", "trailing data after the root node")
	}
	return nil
}

// readNode reads a node from its "(" up to its contents (regular files),
// its target (symlinks) or its first entry (directories).
func (r *Reader) readNode(path string) (*Header, error) {
	r.path = path
	h := &Header{Path: path, Offset: r.off}
	if err := r.expect("("); err != nil {
		return nil, err
	}
	if err := r.expect("type"); err != nil {
		return nil, err
	}
	off := r.off
	typ, err := r.readToken("token node type")
	if err != nil {
		return nil, err
	}
	switch typ {
	case "regular":
		h.Type = TypeRegular
		return h, r.readRegular(h)
	case "symlink":
		h.Type = TypeSymlink
		return h, r.readSymlink(h)
	case "directory":
		h.Type = TypeDirectory
		r.stack = append(r.stack, dirFrame{path: path})
		r.state = rsDir
		return h, nil
	}
	return nil, invalidf(off, path, "unknown node type %q", typ)
}

func (r *Reader) readRegular(h *Header) error {
	off := r.off
	tok, err := r.readToken(`token "executable" or "contents"`)
	if err != nil {
		return err
	}
	if tok == "executable" {
		h.Executable = true
		off = r.off
		s, err := r.readString(maxTokenLen, "executable marker")
		if err != nil {
			return err
		}
		if s != "" {
			return invalidf(off, h.Path, "executable marker has non-empty value %q", s)
		}
		off = r.off
		if tok, err = r.readToken(`token "contents"`); err != nil {
			return err
		}
	}
	if tok != "contents" {
		return invalidf(off, h.Path, "got token %q; want \"contents\"", tok)
	}
	off = r.off
	n, err := r.readUint64("contents length", false)
	if err != nil {
		return err
	}
	if n > math.MaxInt64 {
		return invalidf(off, h.Path, "contents length %d too large", n)
	}
	h.Size = int64(n)
	h.Offset = r.off
	r.left, r.pad = h.Size, padLen(h.Size)
	r.state = rsFile
	return nil
}

func (r *Reader) readSymlink(h *Header) error {
	if err := r.expect("target"); err != nil {
		return err
	}
	off := r.off
	target, err := r.readString(MaxTargetLen, "symlink target")
	if err != nil {
		return err
	}
	if msg := checkTarget(target); msg != "" {
		return invalidf(off, h.Path, "%s", msg)
	}
	h.LinkTarget = target
	r.state = rsNodeEnd
	return nil
}

// skipContents discards the rest of the current file and its padding.
func (r *Reader) skipContents() error {
	for r.left > 0 {
		n, err := r.br.Discard(int(min(r.left, bufSize)))
		r.off += int64(n)
		r.left -= int64(n)
		if err != nil {
			return r.ioError(err, r.off, "file contents")
		}
	}
	return r.readPadding(r.pad)
}

// expect reads a token and checks that it is want.
func (r *Reader) expect(want string) error {
	off := r.off
	b, err := r.readBytes(maxTokenLen, want, true)
	if err != nil {
		return err
	}
	if string(b) != want {
		return invalidf(off, r.path, "got token %q; want %q", b, want)
	}
	return nil
}

// readToken reads a format keyword described by what.
func (r *Reader) readToken(what string) (string, error) {
	b, err := r.readBytes(maxTokenLen, what, false)
	if err != nil {
		return "", err
	}
	for _, t := range tokens {
		if string(b) == t {
			return t, nil
		}
	}
	return string(b), nil
}

// tokens are the keywords of the format; readToken returns them without
// allocating.
var tokens = [...]string{"(", ")", "type", "regular", "directory", "symlink",
	"executable", "", "contents", "entry", "name", "node", "target", magic}

// readString reads a length-prefixed, zero-padded string of at most max
// bytes.
func (r *Reader) readString(max int, what string) (string, error) {
	b, err := r.readBytes(max, what, false)
	return string(b), err
}

// readBytes reads a length-prefixed, zero-padded string of at most max
// bytes and returns it in r.buf. The length is checked before the rest is
// read. what describes the string for errors; token says that what is
// the one token expected.
func (r *Reader) readBytes(max int, what string, token bool) ([]byte, error) {
	n, err := r.readUint64(what, token)
	if err != nil {
		return nil, err
	}
	if n > uint64(max) {
		return nil, invalidf(r.off-8, r.path, "%s: string length %d exceeds limit %d", describe(what, token), n, max)
	}
	size := int(n) + padLen(int64(n))
	b, err := r.br.Peek(size)
	if err != nil {
		return nil, r.ioError(err, r.off+int64(len(b)), describe(what, token))
	}
	if !zero(b[n:]) {
		return nil, invalidf(r.off+int64(n), r.path, "non-zero padding")
	}
	data := r.buf[:n]
	copy(data, b)
	r.discard(size)
	return data, nil
}

func (r *Reader) readUint64(what string, token bool) (uint64, error) {
	b, err := r.br.Peek(8)
	if err != nil {
		return 0, r.ioError(err, r.off+int64(len(b)), describe(what, token))
	}
	r.discard(8)
	return binary.LittleEndian.Uint64(b), nil
}

func (r *Reader) readPadding(n int) error {
	b, err := r.br.Peek(n)
	if err != nil {
		return r.ioError(err, r.off+int64(len(b)), "padding")
	}
	if !zero(b) {
		return invalidf(r.off, r.path, "non-zero padding")
	}
	r.discard(n)
	return nil
}

// discard drops n bytes that were peeked.
func (r *Reader) discard(n int) {
	m, _ := r.br.Discard(n)
	r.off += int64(m)
}

func zero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func describe(what string, token bool) string {
	if token {
		return "token " + strconv.Quote(what)
	}
	return what
}

// ioError wraps an error of the underlying reader met at off while reading
// what. An early end of the stream becomes a format error that also wraps
// io.ErrUnexpectedEOF.
func (r *Reader) ioError(err error, off int64, what string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &Error{Offset: off, Path: r.path, Msg: "truncated NAR: unexpected end of stream in " + what,
			Err: ErrInvalid, errs: []error{ErrInvalid, io.ErrUnexpectedEOF}}
	}
	return &Error{Offset: off, Path: r.path, Msg: "reading " + what + ": " + err.Error(), Err: err}
}
