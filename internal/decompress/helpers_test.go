package decompress_test

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// field returns the value of key in narinfo text.
func field(narinfo []byte, key string) string {
	for line := range strings.SplitSeq(string(narinfo), "\n") {
		if v, ok := strings.CutPrefix(line, key+": "); ok {
			return v
		}
	}
	return ""
}

// requireTool skips (or under CI fails) a test when a program is missing.
func requireTool(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not found on PATH", name)
		}
		t.Skipf("%s not found on PATH", name)
	}
}

// run runs a command, failing the test with its output on error.
func run(t testing.TB, env []string, stdin []byte, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = env
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out
}

func writeFile(t testing.TB, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
}
