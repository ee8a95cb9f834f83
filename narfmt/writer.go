package narfmt

import (
	"bufio"
	"encoding/binary"
	"io"
	"strings"
)

var _ io.Writer = (*Writer)(nil)

// Writer writes a NAR. Call WriteHeader for every node in NAR order
// (depth-first, directory entries sorted by name, root first), Write for
// the contents of regular files, and Close at the end.
//
// Invalid headers and out-of-order entries are refused with an *Error
// wrapping ErrInvalid before anything is written, so the caller may go on
// with a corrected header. Errors of the underlying writer are sticky.
// The output for a given sequence of headers and contents is canonical: it
// is what nix-store --dump produces for the same tree.
type Writer struct {
	bw      *bufio.Writer
	off     int64 // bytes written to bw
	err     error // sticky write error
	started bool  // the root header is written
	closed  bool
	stack   []dirFrame // open directories; prev is the last name written
	inFile  bool       // a regular file node is open
	path    string     // path of the open regular file
	left    int64      // content bytes the open regular file still needs
	pad     int        // padding after the open file's contents
	tmp     [8]byte
}

// NewWriter returns a Writer writing a NAR to w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{bw: bufio.NewWriterSize(w, bufSize)}
}

// WriteHeader starts a new node. The first header must be the root ("/");
// every later one must be an entry of a directory that is still open,
// named after all earlier entries of that directory. Directories are
// closed implicitly by writing an entry outside them, or by Close. The
// previous regular file must have received all its contents.
func (w *Writer) WriteHeader(h *Header) error {
	if err := w.usable(); err != nil {
		return err
	}
	if err := w.checkFileDone(); err != nil {
		return err
	}
	if err := checkHeader(h, w.off); err != nil {
		return err
	}
	if !w.started {
		if h.Path != "/" {
			return invalidf(w.off, h.Path, "first entry must be the root \"/\"")
		}
		w.started = true
		w.writeString(magic)
		w.writeNode(h)
		return w.err
	}
	parent, name, err := w.place(h.Path)
	if err != nil {
		return err
	}
	w.closeFile()
	for len(w.stack)-1 > parent {
		w.closeDir()
	}
	w.stack[parent].prev = name
	w.writeString("entry")
	w.writeString("(")
	w.writeString("name")
	w.writeString(name)
	w.writeString("node")
	w.writeNode(h)
	return w.err
}

// Write writes contents of the current regular file. Writing more than
// Header.Size bytes writes the bytes that fit and returns ErrWriteTooLong.
func (w *Writer) Write(p []byte) (int, error) {
	if err := w.usable(); err != nil {
		return 0, err
	}
	if !w.inFile {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, ErrWriteTooLong
	}
	tooLong := int64(len(p)) > w.left
	if tooLong {
		p = p[:w.left]
	}
	n := w.put(p)
	w.left -= int64(n)
	if w.err != nil {
		return n, w.err
	}
	if tooLong {
		return n, ErrWriteTooLong
	}
	return n, nil
}

// Close closes all open directories, checks that the last regular file
// received all its contents and flushes the output. It does not close the
// underlying writer. Calling Close again returns nil.
func (w *Writer) Close() error {
	if w.closed && w.err == nil {
		return nil
	}
	if w.err != nil {
		return w.err
	}
	if err := w.checkFileDone(); err != nil {
		return err
	}
	if !w.started {
		return invalidf(w.off, "", "no root entry written")
	}
	w.closeFile()
	for len(w.stack) > 0 {
		w.closeDir()
	}
	if w.err == nil {
		if err := w.bw.Flush(); err != nil {
			w.err = &Error{Offset: w.off, Msg: "write: " + err.Error(), Err: err}
		}
	}
	w.closed = true
	return w.err
}

func (w *Writer) usable() error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return invalidf(w.off, "", "write after Close")
	}
	return nil
}

// checkHeader checks the fields of h that do not depend on its position.
func checkHeader(h *Header, off int64) error {
	bad := func(msg string) error { return invalidf(off, h.Path, "%s", msg) }
	if h.Type != TypeRegular {
		switch {
		case h.Executable:
			return bad("executable " + h.Type.String())
		case h.Size != 0:
			return bad("non-zero size for " + h.Type.String())
		}
	}
	if h.Type != TypeSymlink && h.LinkTarget != "" {
		return bad("link target for " + h.Type.String())
	}
	switch h.Type {
	case TypeRegular:
		if h.Size < 0 {
			return bad("negative size")
		}
	case TypeSymlink:
		if msg := checkTarget(h.LinkTarget); msg != "" {
			return bad(msg)
		}
	case TypeDirectory:
	default:
		return bad("invalid type " + h.Type.String())
	}
	return nil
}

// place finds where a non-root path goes: the index of its parent
// directory in the stack and its name. It checks the name and its order.
func (w *Writer) place(path string) (int, string, error) {
	if len(w.stack) == 0 {
		return 0, "", invalidf(w.off, path, "entry after a non-directory root")
	}
	if len(path) > MaxPathLen {
		return 0, "", invalidf(w.off, path, "path length %d exceeds limit %d", len(path), MaxPathLen)
	}
	i := strings.LastIndexByte(path, '/')
	if i < 0 {
		return 0, "", invalidf(w.off, path, "path is not absolute")
	}
	dir, name := path[:i], path[i+1:]
	if dir == "" {
		dir = "/"
	}
	if childPath(dir, name) != path {
		return 0, "", invalidf(w.off, path, "path is not canonical")
	}
	if msg := checkName(name); msg != "" {
		return 0, "", invalidf(w.off, path, "%s", msg)
	}
	for j := len(w.stack) - 1; j >= 0; j-- {
		f := w.stack[j]
		if f.path != dir {
			continue
		}
		switch {
		case name == f.prev:
			return 0, "", invalidf(w.off, path, "duplicate entry name")
		case name < f.prev:
			return 0, "", invalidf(w.off, path, "entry names not sorted (after %q)", f.prev)
		}
		return j, name, nil
	}
	return 0, "", invalidf(w.off, path, "parent directory %q is not open (entries out of order?)", dir)
}

// writeNode writes a node up to its contents (regular files) or its first
// entry (directories); symlink nodes are written completely.
func (w *Writer) writeNode(h *Header) {
	w.writeString("(")
	w.writeString("type")
	w.writeString(h.Type.String())
	switch h.Type {
	case TypeRegular:
		if h.Executable {
			w.writeString("executable")
			w.writeString("")
		}
		w.writeString("contents")
		w.writeUint64(uint64(h.Size))
		w.inFile, w.path, w.left, w.pad = true, h.Path, h.Size, padLen(h.Size)
	case TypeSymlink:
		w.writeString("target")
		w.writeString(h.LinkTarget)
		w.closeNode()
	case TypeDirectory:
		w.stack = append(w.stack, dirFrame{path: h.Path})
	}
}

// checkFileDone reports an open regular file that lacks contents.
func (w *Writer) checkFileDone() error {
	if w.inFile && w.left > 0 {
		return invalidf(w.off, w.path, "missing %d bytes of file contents", w.left)
	}
	return nil
}

// closeFile ends the open regular file, if any.
func (w *Writer) closeFile() {
	if !w.inFile {
		return
	}
	w.inFile = false
	w.put(zeros[:w.pad])
	w.closeNode()
}

// closeDir ends the innermost open directory.
func (w *Writer) closeDir() {
	w.stack = w.stack[:len(w.stack)-1]
	w.closeNode()
}

// closeNode writes the ")" ending a node and, below the root, the ")"
// ending its directory entry.
func (w *Writer) closeNode() {
	w.writeString(")")
	if len(w.stack) > 0 {
		w.writeString(")")
	}
}

var zeros [8]byte

func (w *Writer) writeUint64(n uint64) {
	binary.LittleEndian.PutUint64(w.tmp[:], n)
	w.put(w.tmp[:])
}

func (w *Writer) writeString(s string) {
	if w.err != nil {
		return
	}
	pad := padLen(int64(len(s)))
	b := w.bw.AvailableBuffer()
	if cap(b) < 8+len(s)+pad {
		// Not enough room left in the buffer: write the parts.
		w.writeUint64(uint64(len(s)))
		if w.err == nil {
			n, err := w.bw.WriteString(s)
			w.off += int64(n)
			w.setErr(err)
		}
		w.put(zeros[:pad])
		return
	}
	b = binary.LittleEndian.AppendUint64(b, uint64(len(s)))
	b = append(b, s...)
	w.put(append(b, zeros[:pad]...))
}

// put writes p unless a write failed before.
func (w *Writer) put(p []byte) int {
	if w.err != nil {
		return 0
	}
	n, err := w.bw.Write(p)
	w.off += int64(n)
	w.setErr(err)
	return n
}

func (w *Writer) setErr(err error) {
	if err != nil && w.err == nil {
		w.err = &Error{Offset: w.off, Msg: "write: " + err.Error(), Err: err}
	}
}
