package main_test

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/internal/sample"
)

// The README's first command: the demo ingests the embedded sample cache
// and prints what it stored; run again, it stores nothing new.
func TestDemo(t *testing.T) {
	bin := buildBinary(t)
	dir := filepath.Join(t.TempDir(), "demo")
	paths := map[string]bool{}
	for g := 1; g <= 3; g++ {
		for _, p := range sample.Paths(g) {
			paths[p] = true
		}
	}
	out := mustRun(t, bin, "demo", "--dir", dir, "--no-serve")
	for _, want := range []string{
		"0 failed",
		"store paths: " + strconv.Itoa(len(paths)) + ",",
		"smaller than the upstream files",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	again := mustRun(t, bin, "demo", "--dir", dir, "--no-serve")
	if !strings.Contains(again, " 0 new NARs") {
		t.Errorf("second demo run stored new NARs:\n%s", again)
	}
}
