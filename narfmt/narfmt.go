package narfmt

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Type is the kind of a file system object in a NAR.
type Type uint8

// The three node types a NAR can hold.
const (
	TypeRegular Type = iota + 1 // regular file (see Header.Executable)
	TypeDirectory
	TypeSymlink
)

// String returns the NAR spelling of the type ("regular", "directory",
// "symlink"), or "Type(N)" for an unknown value.
func (t Type) String() string {
	switch t {
	case TypeRegular:
		return "regular"
	case TypeDirectory:
		return "directory"
	case TypeSymlink:
		return "symlink"
	}
	return "Type(" + strconv.Itoa(int(t)) + ")"
}

// Header describes one node of a NAR.
type Header struct {
	Path       string // "/" for the root node, "/a/b" below it
	Type       Type
	Executable bool   // regular files only
	Size       int64  // regular files only: content length
	LinkTarget string // symlinks only

	// Offset is set by Reader: the byte offset in the NAR stream of the
	// file's first content byte (regular files); for other types the
	// offset where the node starts (its "(" token). Writer ignores it.
	Offset int64
}

// Limits on the length of strings in a NAR. The Reader rejects longer
// strings before reading them, and the Writer refuses to write them.
const (
	// MaxNameLen is the longest directory entry name (NAME_MAX).
	MaxNameLen = 255
	// MaxPathLen is the longest Header.Path (PATH_MAX).
	MaxPathLen = 4096
	// MaxTargetLen is the longest symlink target (PATH_MAX).
	MaxTargetLen = 4096
	// maxTokenLen bounds the length of a format keyword; the longest,
	// "nix-archive-1", has 13 bytes.
	maxTokenLen = 16
)

var (
	// ErrInvalid is wrapped by every error about malformed NAR data the
	// Reader finds and by every Header or write sequence the Writer refuses.
	ErrInvalid = errors.New("narfmt: invalid NAR")

	// ErrWriteTooLong is returned by Writer.Write when more bytes are
	// written than Header.Size declared.
	ErrWriteTooLong = errors.New("narfmt: write too long")
)

// Error is the type of the errors returned by Reader and Writer. It records
// where in the stream the problem is and which entry it concerns.
//
// Errors about malformed data wrap ErrInvalid; a stream that ends early
// also wraps io.ErrUnexpectedEOF; errors of the underlying reader or writer
// are wrapped as they are.
type Error struct {
	Offset int64  // byte offset in the NAR stream
	Path   string // entry path ("/" for the root); empty before the root
	Msg    string // what went wrong
	Err    error  // ErrInvalid, or the underlying I/O error
	errs   []error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("narfmt: at offset ")
	b.WriteString(strconv.FormatInt(e.Offset, 10))
	if e.Path != "" {
		b.WriteString(" in ")
		b.WriteString(quoteShort(e.Path))
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// quoteShort quotes path, cut in the middle if it is long: a path of
// thousands of bytes would bury the message.
func quoteShort(path string) string {
	const keep = 64 // bytes kept at each end
	if len(path) <= 3*keep {
		return strconv.Quote(path)
	}
	return fmt.Sprintf("%s…%s (%d bytes)", strconv.Quote(path[:keep]), strconv.Quote(path[len(path)-keep:]), len(path))
}

// Unwrap returns the errors this one wraps.
func (e *Error) Unwrap() []error {
	if e.errs != nil {
		return e.errs
	}
	if e.Err == nil {
		return nil
	}
	return []error{e.Err}
}

var _ error = (*Error)(nil)

// invalidf returns a format error at off for path.
func invalidf(off int64, path, format string, args ...any) *Error {
	return &Error{Offset: off, Path: path, Msg: fmt.Sprintf(format, args...), Err: ErrInvalid}
}

// checkName reports why name cannot be a directory entry name, or "".
func checkName(name string) string {
	switch {
	case name == "":
		return "empty entry name"
	case name == "." || name == "..":
		return fmt.Sprintf("invalid entry name %q", name)
	case len(name) > MaxNameLen:
		return fmt.Sprintf("entry name length %d exceeds limit %d", len(name), MaxNameLen)
	case strings.IndexByte(name, '/') >= 0:
		return fmt.Sprintf("entry name %q contains '/'", name)
	case strings.IndexByte(name, 0) >= 0:
		return fmt.Sprintf("entry name %q contains NUL", name)
	}
	return ""
}

// checkTarget reports why target cannot be a symlink target, or "".
func checkTarget(target string) string {
	switch {
	case len(target) > MaxTargetLen:
		return fmt.Sprintf("symlink target length %d exceeds limit %d", len(target), MaxTargetLen)
	case strings.IndexByte(target, 0) >= 0:
		return "symlink target contains NUL"
	}
	return ""
}

// childPath joins a directory path and an entry name.
func childPath(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

// padLen returns the number of zero bytes that follow n bytes of data.
func padLen(n int64) int {
	return int(-n & 7)
}
