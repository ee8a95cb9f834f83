package storepath_test

import (
	"testing"

	"github.com/nardedup/nardedup/narfmt/storepath"
)

func FuzzParse(f *testing.F) {
	f.Add("/nix/store", "/nix/store/"+h+"-hello")
	f.Add("/nix/store", "/nix/store/"+h+"-.x")
	f.Add("/gnu/store", "/gnu/store/"+h+"-a/b")
	f.Fuzz(func(t *testing.T, dir, s string) {
		p, err := storepath.Parse(dir, s)
		if err != nil {
			return
		}
		if got := p.String(); got != s {
			t.Fatalf("Parse(%q, %q).String() = %q; want %q", dir, s, got, s)
		}
		b, err := storepath.ParseBase(p.Base())
		if err != nil || b.Hash != p.Hash || b.Name != p.Name {
			t.Fatalf("ParseBase(%q) = %+v, %v; want %+v", p.Base(), b, err, p)
		}
		if err := storepath.ValidateName(p.Name); err != nil {
			t.Fatalf("ValidateName(%q) = %v; want nil", p.Name, err)
		}
	})
}
