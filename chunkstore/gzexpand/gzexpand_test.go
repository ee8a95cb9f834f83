package gzexpand

import (
	"bytes"
	"compress/gzip"
	"testing"

	"github.com/nardedup/nardedup/internal/gziptest"
)

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

func TestExpandRestore(t *testing.T) {
	doc := gziptest.Words(1, 200_000)
	tests := []struct {
		name     string
		frame    []byte
		replaced int
	}{
		{"no gzip", gziptest.Random(3, 100_000), 0},
		{"gzip -9 alone", gziptest.File(t, doc, 9), 1},
		{"gzip -6 between binary", join(gziptest.Random(4, 5000), gziptest.File(t, doc, 6), gziptest.Random(5, 7000)), 1},
		{"levels 1 6 9 in a row", join(gziptest.File(t, doc[:50_000], 1), gziptest.File(t, doc[50_000:120_000], 6), gziptest.File(t, doc[120_000:], 9)), 3},
		{"level 3", join(gziptest.Words(6, 999), gziptest.File(t, doc, 3)), 1},
		{"Go's gzip stays", join(gziptest.Random(7, 100), goGzip(t, doc)), 0},
		{"gzip of random data", gziptest.File(t, gziptest.Random(8, 70_000), 9), 1},
		{"truncated member stays", join(gziptest.Random(9, 100), gziptest.File(t, doc, 9)[:5000]), 0},
		{"tiny member stays", gziptest.File(t, []byte("hi"), 9), 0},
		{"magic without a stream", join(gziptest.Random(10, 1000), []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 3, 0xff, 0xff}, gziptest.Random(11, 1000)), 0},
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
	doc := gziptest.Words(12, 100_000)
	gz := gziptest.File(t, doc, 9)
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
	gz := gziptest.File(t, gziptest.Words(20, 300_000), 9)
	frame := join(gz, gziptest.Random(21, 100), gz)
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
	other := join(goGzip(t, gziptest.Words(22, 300_000)), gz)
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
	frame := join(gziptest.Random(13, 300), gziptest.File(t, gziptest.Words(14, 50_000), 9), gziptest.Random(15, 300))
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
	frame := join(gziptest.Random(16, 100), gziptest.File(f, gziptest.Words(17, 3000), 9))
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
	f.Add(join(gziptest.Random(18, 50), gziptest.File(f, gziptest.Words(19, 2000), 6)))
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
