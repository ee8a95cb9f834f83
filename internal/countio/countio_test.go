package countio_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/nardedup/nardedup/internal/countio"
)

// shortWriter accepts at most k bytes in all.
type shortWriter struct{ k int }

func (s *shortWriter) Write(p []byte) (int, error) {
	if len(p) > s.k {
		n := s.k
		s.k = 0
		return n, io.ErrShortWrite
	}
	s.k -= len(p)
	return len(p), nil
}

// TestWriterCountsAccepted checks that a Writer counts the bytes its
// writer accepted, not those it was given.
func TestWriterCountsAccepted(t *testing.T) {
	w := &countio.Writer{W: &shortWriter{k: 5}}
	io.WriteString(w, "abc")
	_, err := io.WriteString(w, "defg")
	if !errors.Is(err, io.ErrShortWrite) || w.N != 5 {
		t.Errorf("got %d, %v; want 5, short write", w.N, err)
	}
}

// TestReaderCounts checks that a Reader counts the bytes read, in
// pieces, up to an error.
func TestReaderCounts(t *testing.T) {
	r := &countio.Reader{R: iotest.OneByteReader(strings.NewReader("hello"))}
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, r); err != nil || r.N != 5 {
		t.Errorf("got %d, %v; want 5", r.N, err)
	}
	boom := errors.New("boom")
	r = &countio.Reader{R: io.MultiReader(strings.NewReader("ab"), iotest.ErrReader(boom))}
	if _, err := io.ReadAll(r); !errors.Is(err, boom) || r.N != 2 {
		t.Errorf("got %d, %v; want 2, boom", r.N, err)
	}
}
