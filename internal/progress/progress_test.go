package progress_test

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nardedup/nardedup/internal/progress"
)

// syncBuffer is a bytes.Buffer safe for the Reporter's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Off a terminal, a line appears every interval while the counts change,
// and a last one with the final counts at Close.
func TestLines(t *testing.T) {
	var out syncBuffer
	r := progress.New(&out, "verify", progress.Options{Every: 10 * time.Millisecond})
	r.Update(progress.Counts{Done: 1, Total: 4, Bytes: 1 << 20})
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "1 of 4 store paths") && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	r.Update(progress.Counts{Done: 4, Total: 4, Bytes: 3 << 20})
	r.Close()
	r.Update(progress.Counts{Done: 5, Total: 4})
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) < 2 {
		t.Fatalf("got %q; want a line while running and one at the end", out.String())
	}
	if !strings.Contains(lines[0], "verify: 1 of 4 store paths, 1.0 MiB of NAR") || !strings.Contains(lines[0], " left") {
		t.Errorf("first line %q; want 1 of 4 store paths, 1.0 MiB and the time left", lines[0])
	}
	last := lines[len(lines)-1]
	if !strings.Contains(last, "verify: 4 of 4 store paths, 3.0 MiB of NAR") || strings.Contains(last, " left") {
		t.Errorf("last line %q; want 4 of 4 store paths, 3.0 MiB, no time left", last)
	}
}

// Unchanged counts print no new line, not even at Close; none are printed
// before the first Update; an unknown total prints counts only.
func TestQuietWhileUnchanged(t *testing.T) {
	var out syncBuffer
	r := progress.New(&out, "gc", progress.Options{Every: time.Millisecond})
	time.Sleep(20 * time.Millisecond)
	r.Update(progress.Counts{Done: 7, Bytes: 10})
	time.Sleep(50 * time.Millisecond)
	r.Close()
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "gc: 7 store paths, 0.0 MiB of NAR") {
		t.Fatalf("got %q; want one line of 7 store paths without a total", out.String())
	}
}

// Off a terminal, a message comes after the counts reached before it.
func TestPrintfAfterCounts(t *testing.T) {
	var out syncBuffer
	r := progress.New(&out, "gc", progress.Options{Every: time.Hour})
	r.Printf("marking")
	r.Update(progress.Counts{Done: 3, Bytes: 1 << 20})
	r.Printf("condemned")
	r.Close()
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 3 || lines[0] != "gc: marking" || !strings.Contains(lines[1], " gc: 3 store paths, 1.0 MiB of NAR, ") || lines[2] != "gc: condemned" {
		t.Errorf("got %q; want marking, the counts, condemned", out.String())
	}
}

// A nil Reporter, for --quiet, does nothing.
func TestNil(t *testing.T) {
	var r *progress.Reporter
	r.Update(progress.Counts{Done: 1})
	r.Printf("hello")
	r.Close()
}

// On a terminal the bar ends with the final counts and a newline.
func TestBar(t *testing.T) {
	for _, total := range []int{0, 3} {
		var out syncBuffer
		r := progress.New(&out, "export", progress.Options{Terminal: true})
		r.Update(progress.Counts{Done: 1, Total: total, Bytes: 1 << 20})
		r.Printf("a message")
		r.Update(progress.Counts{Done: 3, Total: total, Bytes: 2 << 20})
		r.Close()
		s := out.String()
		if !strings.Contains(s, "export: a message\n") || !strings.Contains(s, "2.0 MiB") || !strings.HasSuffix(s, "\n") {
			t.Errorf("total %d: got %q; want the message, 2.0 MiB and a final newline", total, s)
		}
	}
}
