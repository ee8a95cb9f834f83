package server

import (
	"strconv"
	"strings"
	"testing"
)

// FuzzFrameName checks that parseFrameName accepts a frame name only in
// the one spelling FrameName writes, and never a length beyond
// MaxFrameBytes.
func FuzzFrameName(f *testing.F) {
	id := strings.Repeat("ab", 32)
	for _, s := range []string{id + "/0/10", id + "/00/10", id + "/-1/10", id + "/0/0", "../x/0/1",
		strings.ToUpper(id) + "/1/2", id + "/9223372036854775807/1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		id, off, n, err := parseFrameName(name)
		if err != nil {
			return
		}
		if off < 0 || n <= 0 || n > MaxFrameBytes {
			t.Fatalf("%q: offset %d length %d", name, off, n)
		}
		if again := id.String() + "/" + strconv.FormatInt(off, 10) + "/" + strconv.FormatInt(n, 10); again != name {
			t.Fatalf("%q accepted, spelled %q", name, again)
		}
	})
}
