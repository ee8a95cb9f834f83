package retention

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
)

// ParseList reads a list of store paths in storeDir or store path hashes,
// one a line, for Rule.Paths or Rule.KeepRoots. Blank lines are skipped
// and '#' starts a comment (no store path contains one). A line that is
// neither is an error naming its number. The list is never nil.
func ParseList(r io.Reader, storeDir string) ([]string, error) {
	entries := []string{}
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line, _, _ := strings.Cut(sc.Text(), "#")
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if _, err := entryHash(storeDir, line); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		entries = append(entries, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", n+1, err)
	}
	return entries, nil
}

// ReadList reads the list of store paths in the file name; see ParseList.
func ReadList(name, storeDir string) ([]string, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("retention: %w", err)
	}
	defer f.Close()
	entries, err := ParseList(f, storeDir)
	if err != nil {
		return nil, fmt.Errorf("retention: %s: %w", name, err)
	}
	return entries, nil
}
