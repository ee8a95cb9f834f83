package cacheinfo_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/narfmt/cacheinfo"
)

func FuzzParse(f *testing.F) {
	f.Add("StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 40\n")
	f.Add("Priority: -1\nX: y\nWantMassQuery: 0\n")
	f.Fuzz(func(t *testing.T, s string) {
		ci, err := cacheinfo.Parse(strings.NewReader(s))
		if err != nil {
			return
		}
		if got := ci.String(); got != s {
			t.Fatalf("String() = %q; want %q", got, s)
		}
		ci.Order = nil
		again, err := cacheinfo.Parse(strings.NewReader(ci.String()))
		if err != nil {
			t.Fatalf("Parse(String() in default order) = %v", err)
		}
		again.Order = nil
		if !reflect.DeepEqual(again, ci) {
			t.Fatalf("Parse(String()) = %+v; want %+v", again, ci)
		}
	})
}
