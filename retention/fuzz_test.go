package retention_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/narfmt/storepath"
	"github.com/nardedup/nardedup/retention"
)

// FuzzParseList: a list either fails naming a line, or every entry it
// returns is a store path hash or a store path in the store dir, without
// surrounding space or comment, and parsing the entries again, one a line,
// gives them back.
func FuzzParseList(f *testing.F) {
	f.Add([]byte("/nix/store/3riw42q5azfr2ay5pd0w8z2vpr6w6hd9-zlib-1.2.13.dfsg\n# roots\n\n3df4rkhn2mcp950qg1yz0ygw2y0rhxpc  # bzip2\n"))
	f.Add([]byte("/nix/store/../etc/passwd\n"))
	f.Add([]byte("not a path"))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := retention.ParseList(bytes.NewReader(data), "/nix/store")
		if err != nil {
			if !strings.Contains(err.Error(), "line ") {
				t.Fatalf("error does not name a line: %v", err)
			}
			return
		}
		for _, e := range entries {
			if e != strings.TrimSpace(e) || strings.Contains(e, "#") {
				t.Fatalf("entry %q keeps space or a comment", e)
			}
			if strings.HasPrefix(e, "/") {
				if _, err := storepath.Parse("/nix/store", e); err != nil {
					t.Fatalf("entry %q is not a store path: %v", e, err)
				}
			} else if err := storepath.ValidateHash(e); err != nil {
				t.Fatalf("entry %q is not a hash: %v", e, err)
			}
		}
		again, err := retention.ParseList(strings.NewReader(strings.Join(entries, "\n")), "/nix/store")
		if err != nil || len(again) != len(entries) {
			t.Fatalf("entries parsed again: %d, %v", len(again), err)
		}
		for i := range again {
			if again[i] != entries[i] {
				t.Fatalf("entry %d: %q became %q", i, entries[i], again[i])
			}
		}
	})
}
