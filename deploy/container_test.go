package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The image is built in one stage and run from another, static and
// distroless, as a user who is not root; the build command it runs works.
func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile("container/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var froms, users []string
	var build, entry string
	for _, line := range strings.Split(strings.ReplaceAll(string(data), "\\\n", " "), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "FROM":
			froms = append(froms, f[1])
			users = users[:0]
		case "USER":
			users = append(users, f[1])
		case "RUN":
			if cmd, _, _ := strings.Cut(line, "&&"); strings.Contains(cmd, "go build") {
				build = strings.TrimSpace(strings.TrimPrefix(cmd, "RUN"))
			}
		case "ENTRYPOINT":
			entry = line
		}
	}
	if len(froms) < 2 || !strings.HasPrefix(froms[len(froms)-1], "gcr.io/distroless/static") {
		t.Errorf("stages FROM %q; want a build stage and a final distroless/static one", froms)
	}
	if len(users) == 0 || slices.ContainsFunc(users, func(u string) bool { return strings.HasPrefix(u, "0") || strings.HasPrefix(u, "root") }) {
		t.Errorf("final stage USER %q; want a user who is not root", users)
	}
	if !strings.Contains(entry, "nardedup") {
		t.Errorf("ENTRYPOINT %q does not run nardedup", entry)
	}
	if !strings.HasPrefix(build, "CGO_ENABLED=0 go build ") || !strings.HasSuffix(build, " ./cmd/nardedup") {
		t.Fatalf("build command %q; want CGO_ENABLED=0 go build … ./cmd/nardedup", build)
	}
	if testing.Short() {
		t.Skip("not running the image's build command in -short mode")
	}
	args := strings.Fields(strings.TrimPrefix(build, "CGO_ENABLED=0 "))
	if k := slices.Index(args, "-o"); k >= 0 {
		args[k+1] = filepath.Join(t.TempDir(), "nardedup")
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", build, err, out)
	}
}
