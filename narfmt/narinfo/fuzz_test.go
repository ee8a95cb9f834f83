package narinfo_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/narfmt/narinfo"
)

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.narinfo"))
	for _, file := range files {
		b, _ := os.ReadFile(file)
		f.Add(string(b))
	}
	f.Add(valid)
	f.Add(valid + "CA: fixed:r:" + nh + "\nSystem: \nX: y\nSig: a:b\n")
	f.Add("StorePath: " + sp + "\nURL: u\nNarHash: " + nh + "\nNarSize: 1\n")
	f.Fuzz(func(t *testing.T, s string) {
		ni, err := narinfo.Parse(strings.NewReader(s))
		if err != nil {
			return
		}
		out := ni.String()
		if out != s {
			t.Fatalf("String() = %q; want the input %q", out, s)
		}
		again, err := narinfo.Parse(strings.NewReader(out))
		if err != nil {
			t.Fatalf("Parse(String()) = %v", err)
		}
		if !reflect.DeepEqual(again, ni) {
			t.Fatalf("Parse(String()) = %+v; want %+v", again, ni)
		}
		// Nix's order must parse to the same values too.
		ni.Order, again.Order = nil, nil
		canon, err := narinfo.Parse(strings.NewReader(ni.String()))
		if err != nil {
			t.Fatalf("Parse(String() in Nix order) = %v", err)
		}
		canon.Order = nil
		if canon.References == nil && ni.References != nil {
			canon.References = ni.References[:0]
		}
		if !reflect.DeepEqual(canon, again) {
			t.Fatalf("Parse(String() in Nix order) = %+v; want %+v", canon, again)
		}
		_, _ = ni.Fingerprint()
	})
}
