package narfmt_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/nardedup/nardedup/narfmt"
)

// entry is a header with the contents of regular files.
type entry struct {
	narfmt.Header
	Data []byte
}

func (e entry) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", e.Type, e.Path)
	if e.Executable {
		b.WriteString(" exec")
	}
	switch e.Type {
	case narfmt.TypeRegular:
		fmt.Fprintf(&b, " size=%d data=%q", e.Size, abbrev(e.Data))
	case narfmt.TypeSymlink:
		fmt.Fprintf(&b, " -> %q", e.LinkTarget)
	}
	return b.String()
}

func abbrev(b []byte) string {
	if len(b) > 32 {
		return fmt.Sprintf("%s...(%d bytes)", b[:16], len(b))
	}
	return string(b)
}

// readAll reads every entry of a NAR, contents included. Offsets are kept
// when keepOffsets is set and zeroed otherwise.
func readAll(r io.Reader, keepOffsets bool) ([]entry, error) {
	nr := narfmt.NewReader(r)
	var out []entry
	for {
		h, err := nr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		e := entry{Header: *h}
		if !keepOffsets {
			e.Offset = 0
		}
		if h.Type == narfmt.TypeRegular {
			if e.Data, err = io.ReadAll(nr); err != nil {
				return out, err
			}
		}
		out = append(out, e)
	}
}

// writeAll writes entries as a NAR.
func writeAll(entries []entry) ([]byte, error) {
	var buf bytes.Buffer
	w := narfmt.NewWriter(&buf)
	for _, e := range entries {
		h := e.Header
		if err := w.WriteHeader(&h); err != nil {
			return nil, err
		}
		if _, err := w.Write(e.Data); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// rewrite streams a NAR through a Reader and a Writer.
func rewrite(dst io.Writer, src io.Reader) error {
	r := narfmt.NewReader(src)
	w := narfmt.NewWriter(dst)
	for {
		h, err := r.Next()
		if err == io.EOF {
			return w.Close()
		}
		if err != nil {
			return err
		}
		if err := w.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.Copy(w, r); err != nil {
			return err
		}
	}
}

// firstDiff describes where two byte slices first differ.
func firstDiff(got, want []byte) string {
	n := min(len(got), len(want))
	for i := range n {
		if got[i] != want[i] {
			return fmt.Sprintf("first difference at offset %d (len %d vs %d)", i, len(got), len(want))
		}
	}
	return fmt.Sprintf("lengths %d vs %d", len(got), len(want))
}

// nar builds raw NAR bytes, valid or not.
type nar struct{ bytes.Buffer }

// str appends length-prefixed, zero-padded strings.
func (n *nar) str(ss ...string) *nar {
	for _, s := range ss {
		n.u64(uint64(len(s)))
		n.WriteString(s)
		n.Write(make([]byte, (8-len(s)%8)%8))
	}
	return n
}

func (n *nar) u64(v uint64) *nar {
	n.Write(binary.LittleEndian.AppendUint64(nil, v))
	return n
}

// Fragments of valid NARs.
func file(contents string) []string {
	return []string{"(", "type", "regular", "contents", contents, ")"}
}

func entryOf(name string, node []string) []string {
	return append(append([]string{"entry", "(", "name", name, "node"}, node...), ")")
}

func dirOf(entries ...[]string) []string {
	s := []string{"(", "type", "directory"}
	for _, e := range entries {
		s = append(s, e...)
	}
	return append(s, ")")
}

func narOf(root []string) []byte {
	var n nar
	n.str("nix-archive-1").str(root...)
	return n.Bytes()
}

// isFormatError checks that err is a narfmt error naming an offset.
func isFormatError(err error) error {
	var fe *narfmt.Error
	if !errors.As(err, &fe) {
		return fmt.Errorf("error %v (%T) is not a *narfmt.Error", err, err)
	}
	if !errors.Is(err, narfmt.ErrInvalid) {
		return fmt.Errorf("error %v does not wrap ErrInvalid", err)
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("at offset %d", fe.Offset)) {
		return fmt.Errorf("error %q does not mention its offset", err)
	}
	return nil
}
