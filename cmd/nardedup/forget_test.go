package main_test

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nardedup/nardedup/internal/nixtest"
	"github.com/nardedup/nardedup/internal/sample"
)

// objectFiles lists the files of a local repository with their sizes and
// times.
func objectFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := make(map[string]string)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		files[rel] = fmt.Sprintf("%d bytes, %s", fi.Size(), fi.ModTime().Format(time.RFC3339Nano))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// count returns how many files of a local repository are under prefix/.
func count(files map[string]string, prefix string) int {
	n := 0
	for k := range files {
		if strings.HasPrefix(k, prefix+string(filepath.Separator)) {
			n++
		}
	}
	return n
}

func TestForget(t *testing.T) {
	bin := nixtest.Nardedup(t)
	dir := t.TempDir()
	bucket, err := sample.WriteBucket(filepath.Join(dir, "bucket"))
	if err != nil {
		t.Fatal(err)
	}
	repoDir := filepath.Join(dir, "repo")
	repo := []string{"--repo", repoDir, "--index-cache", filepath.Join(dir, "index-cache")}
	mustRun(t, bin, append([]string{"ingest"}, append(repo, bucket)...)...)
	var all []string
	for g := 1; g <= 3; g++ {
		all = append(all, sample.Paths(g)...)
	}
	const (
		acl3  = "/nix/store/16w49fbl51m3453x0yafg698kc03grk2-acl-2.3.1" // references attr3
		attr3 = "/nix/store/dnrh6vs4qwcf86rscbwch7q5a86lhay8-attr-2.5.1"
	)
	write := func(name, text string) string {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	roots := write("roots", "# what the CI still needs\n\n"+acl3+"\n")
	paths := write("paths", attr3+"   # protected by the roots\n")
	gone := len(all) - 2

	// Nothing is older than 30 days; the variable is the flag's twin.
	cmd := exec.Command(bin, append([]string{"forget"}, repo...)...)
	cmd.Env = append(os.Environ(), "NARDEDUP_FORGET_OLDER_THAN=30d")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "forgot 0 store paths") {
		t.Errorf("forget with NARDEDUP_FORGET_OLDER_THAN=30d: %v\n%s", err, out)
	}

	before := objectFiles(t, repoDir)
	out2 := mustRun(t, bin, append([]string{"forget", "--keep-roots", roots, "--paths", paths, "--tombstones", "--dry-run"}, repo...)...)
	for _, want := range []string{
		"would forget " + strconv.Itoa(gone) + " store paths",
		"2 kept, 1 of them selected but in the closure of the keep-roots",
		"nothing was changed",
		all[0], // listed, fewer than 20
	} {
		if !strings.Contains(out2, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out2)
		}
	}
	if strings.Contains(out2, acl3) || strings.Contains(out2, attr3) || strings.Contains(out2, "tombstones written") {
		t.Errorf("dry run lists a kept path or writes tombstones:\n%s", out2)
	}
	after := objectFiles(t, repoDir)
	if len(before) != len(after) {
		t.Errorf("dry run changed the repository: %d files before, %d after", len(before), len(after))
	}
	for k, v := range before {
		if after[k] != v {
			t.Errorf("dry run changed %s: %s, then %s", k, v, after[k])
		}
	}

	out3 := mustRun(t, bin, append([]string{"forget", "--keep-roots", roots, "--paths", paths, "--tombstones"}, repo...)...)
	for _, want := range []string{
		"forgot " + strconv.Itoa(gone) + " store paths",
		"tombstones written: " + strconv.Itoa(gone),
		"run nardedup gc to reclaim the space",
	} {
		if !strings.Contains(out3, want) {
			t.Errorf("forget output lacks %q:\n%s", want, out3)
		}
	}
	if strings.Contains(out3, all[0]) {
		t.Errorf("forget lists paths without --verbose:\n%s", out3)
	}
	files := objectFiles(t, repoDir)
	if n, m := count(files, "narinfo"), count(files, "tombstones"); n != 2 || m != gone {
		t.Errorf("after forget: %d narinfos, %d tombstones; want 2, %d", n, m, gone)
	}

	// Ingesting the cache again brings the paths back from their
	// tombstones.
	out4 := mustRun(t, bin, append([]string{"ingest"}, append(repo, bucket)...)...)
	if !strings.Contains(out4, "revived:       "+strconv.Itoa(gone)+" forgotten store paths") {
		t.Errorf("ingest after forget:\n%s", out4)
	}
	files = objectFiles(t, repoDir)
	if n, m := count(files, "narinfo"), count(files, "tombstones"); n != len(all) || m != 0 {
		t.Errorf("after ingesting again: %d narinfos, %d tombstones; want %d, 0", n, m, len(all))
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "give at least one rule"},
		{[]string{"--paths", write("bad", acl3+"\nacl-2.3.1\n")}, "bad: line 2"},
		{[]string{"--keep-roots", write("empty", "# nothing\n")}, "lists no store path"},
		{[]string{"--older-than", "30x"}, `"30x"`},
		{[]string{"--older-than", "0d"}, "above zero"},
	} {
		out, err := run(t, bin, append(append([]string{"forget"}, tc.args...), repo...)...)
		if err == nil || !strings.Contains(out, tc.want) {
			t.Errorf("forget %q: %v; want an error with %q\n%s", tc.args, err, tc.want, out)
		}
	}
	if files2 := objectFiles(t, repoDir); count(files2, "narinfo") != len(all) {
		t.Errorf("refused forget runs changed the narinfos")
	}
}
