package gzexpand

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"
)

// gnuGzip compresses data with the gzip program at level.
func gnuGzip(t testing.TB, data []byte, level int) []byte {
	t.Helper()
	if _, err := exec.LookPath("gzip"); err != nil {
		t.Skip("no gzip program")
	}
	cmd := exec.Command("gzip", "-c", "-n", fmt.Sprintf("-%d", level))
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("gzip -%d: %v", level, err)
	}
	return out
}

// goGzip compresses data with Go's encoder, which gnudeflate does not
// reproduce.
func goGzip(t testing.TB, data []byte) []byte {
	var b bytes.Buffer
	w, _ := gzip.NewWriterLevel(&b, 6)
	w.Write(data)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func text(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	words := strings.Fields("the quick brown fox jumps over a lazy dog while nix builds every package from source again")
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[r.IntN(len(words))])
		if r.IntN(12) == 0 {
			b.WriteString(".\n")
		} else {
			b.WriteByte(' ')
		}
	}
	return b.Bytes()[:n]
}

func random(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestExpandRestore(t *testing.T) {
	doc := text(1, 200_000)
	tests := []struct {
		name     string
		frame    []byte
		replaced int
	}{
		{"no gzip", random(3, 100_000), 0},
		{"gzip -9 alone", gnuGzip(t, doc, 9), 1},
		{"gzip -6 between binary", join(random(4, 5000), gnuGzip(t, doc, 6), random(5, 7000)), 1},
		{"levels 1 6 9 in a row", join(gnuGzip(t, doc[:50_000], 1), gnuGzip(t, doc[50_000:120_000], 6), gnuGzip(t, doc[120_000:], 9)), 3},
		{"level 3", join(text(6, 999), gnuGzip(t, doc, 3)), 1},
		{"Go's gzip stays", join(random(7, 100), goGzip(t, doc)), 0},
		{"gzip of random data", gnuGzip(t, random(8, 70_000), 9), 1},
		{"truncated member stays", join(random(9, 100), gnuGzip(t, doc, 9)[:5000]), 0},
		{"tiny member stays", gnuGzip(t, []byte("hi"), 9), 0},
		{"magic without a stream", join(random(10, 1000), []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 3, 0xff, 0xff}, random(11, 1000)), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			exp, n := Expand(tc.frame, 4*len(tc.frame)+1<<20)
			if n != tc.replaced {
				t.Fatalf("replaced %d streams, want %d", n, tc.replaced)
			}
			if n == 0 {
				if exp != nil {
					t.Fatalf("expanded form of %d bytes with nothing replaced", len(exp))
				}
				return
			}
			got, err := Restore(nil, exp, len(tc.frame))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.frame) {
				t.Fatal("restored frame differs")
			}
		})
	}
}

func join(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// The expanded form stays within its bound: members beyond it stay.
func TestExpandBudget(t *testing.T) {
	doc := text(12, 100_000)
	gz := gnuGzip(t, doc, 9)
	frame := join(gz, gz, gz)
	// Room for one member's growth only.
	exp, n := Expand(frame, len(frame)+len(doc)+100)
	if n != 1 {
		t.Fatalf("replaced %d streams, want 1", n)
	}
	if len(exp) > len(frame)+len(doc)+100 {
		t.Fatalf("expanded form of %d bytes exceeds its bound", len(exp))
	}
	got, err := Restore(nil, exp, len(frame))
	if err != nil || !bytes.Equal(got, frame) {
		t.Fatalf("restore: %v, equal %v", err, bytes.Equal(got, frame))
	}
}

// Streams too costly to remake, or beyond the frame's work for remaking,
// stay compressed: readers pay that work at every first read.
func TestExpandBoundsRemakeWork(t *testing.T) {
	gz := gnuGzip(t, text(20, 300_000), 9)
	frame := join(gz, random(21, 100), gz)
	if _, n := Expand(frame, 8*len(frame)); n != 2 {
		t.Fatalf("replaced %d streams, want 2", n)
	}
	defer func(perByte, perFrame, trials int64) {
		maxStepsPerByte, maxFrameSteps, maxTrialSteps = perByte, perFrame, trials
	}(maxStepsPerByte, maxFrameSteps, maxTrialSteps)
	maxStepsPerByte = 0
	if _, n := Expand(frame, 8*len(frame)); n != 0 {
		t.Errorf("replaced %d streams costlier than %d steps a byte", n, maxStepsPerByte)
	}
	maxStepsPerByte, maxFrameSteps = 1<<20, 1
	if _, n := Expand(frame, 8*len(frame)); n != 1 {
		t.Errorf("replaced %d streams after the frame's steps of remaking, want the first only", n)
	}
	// Failed trials count too: a stream of another encoder first uses up
	// the steps for trials, and the gzip stream after it stays.
	maxFrameSteps, maxTrialSteps = 1<<40, 1
	other := join(goGzip(t, text(22, 300_000)), gz)
	if _, n := Expand(other, 8*len(other)); n != 0 {
		t.Errorf("replaced %d streams after the frame's steps for trials", n)
	}
	maxTrialSteps = 1 << 40
	if _, n := Expand(other, 8*len(other)); n != 1 {
		t.Errorf("replaced %d streams with steps enough, want 1", n)
	}
}

// A damaged expanded form fails with an error, never a wrong frame or a
// panic.
func TestRestoreDamaged(t *testing.T) {
	frame := join(random(13, 300), gnuGzip(t, text(14, 50_000), 9), random(15, 300))
	exp, n := Expand(frame, len(frame)+1<<20)
	if n != 1 {
		t.Fatalf("replaced %d streams, want 1", n)
	}
	if _, err := Restore(nil, exp, len(frame)+1); err == nil {
		t.Error("wrong frame size accepted")
	}
	if _, err := Restore(nil, exp[:len(exp)-1], len(frame)); err == nil {
		t.Error("truncated form accepted")
	}
	// Flip each byte of the table and a few of the data.
	for i := 0; i < len(exp); i += max(1, i/2) {
		bad := bytes.Clone(exp)
		bad[i] ^= 0x40
		got, err := Restore(nil, bad, len(frame))
		if err == nil && bytes.Equal(got, frame) {
			t.Errorf("byte %d damaged: restored the frame anyway", i)
		}
		if err == nil && len(got) != len(frame) {
			t.Errorf("byte %d damaged: %d bytes, want %d", i, len(got), len(frame))
		}
	}
}

func FuzzRestore(f *testing.F) {
	frame := join(random(16, 100), gnuGzip(f, text(17, 3000), 9))
	exp, _ := Expand(frame, len(frame)+1<<20)
	f.Add(exp, uint32(len(frame)))
	f.Add([]byte{1, 0, 9, 0, 0}, uint32(0))
	f.Fuzz(func(t *testing.T, exp []byte, size uint32) {
		size %= 1 << 20
		got, err := Restore(nil, exp, int(size))
		if err == nil && len(got) != int(size) {
			t.Fatalf("restored %d bytes, want %d", len(got), size)
		}
	})
}

func FuzzExpand(f *testing.F) {
	f.Add(join(random(18, 50), gnuGzip(f, text(19, 2000), 6)))
	f.Add([]byte{0x1f, 0x8b, 8, 0x1f, 0x8b, 8, 8, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, frame []byte) {
		exp, n := Expand(frame, 2*len(frame)+1024)
		if n == 0 {
			return
		}
		got, err := Restore(nil, exp, len(frame))
		if err != nil || !bytes.Equal(got, frame) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
