package cacheinfo_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/narfmt/cacheinfo"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want cacheinfo.CacheInfo
	}{
		{"StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 40\n",
			cacheinfo.CacheInfo{StoreDir: "/nix/store", WantMassQuery: true, Priority: 40,
				Order: []string{"StoreDir", "WantMassQuery", "Priority"}}},
		{"StoreDir: /nix/store\n",
			cacheinfo.CacheInfo{StoreDir: "/nix/store", Order: []string{"StoreDir"}}},
		{"Priority: -5\nWantMassQuery: 0\nX-Y: a: b\nStoreDir: /gnu/store\nX-Y: c\n",
			cacheinfo.CacheInfo{StoreDir: "/gnu/store", Priority: -5,
				Extra: []cacheinfo.Field{{Key: "X-Y", Value: "a: b"}, {Key: "X-Y", Value: "c"}},
				Order: []string{"Priority", "WantMassQuery", "X-Y", "StoreDir", "X-Y"}}},
		{"Priority: 0\n", cacheinfo.CacheInfo{Order: []string{"Priority"}}},
		{"", cacheinfo.CacheInfo{}},
	}
	for _, tt := range tests {
		ci, err := cacheinfo.Parse(strings.NewReader(tt.in))
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(*ci, tt.want) {
			t.Errorf("Parse(%q) = %+v; want %+v", tt.in, *ci, tt.want)
		}
		if got := ci.String(); got != tt.in {
			t.Errorf("String() = %q; want %q", got, tt.in)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"no colon", "StoreDir /nix/store\n", "line 1"},
		{"no space", "StoreDir:/nix/store\n", "line 1"},
		{"relative store dir", "StoreDir: nix/store\n", "line 1"},
		{"trailing slash", "StoreDir: /nix/store/\n", "line 1"},
		{"empty store dir", "StoreDir: \n", "line 1"},
		{"mass query true", "WantMassQuery: true\n", "WantMassQuery"},
		{"priority word", "WantMassQuery: 1\nPriority: high\n", "line 2: Priority"},
		{"priority plus", "Priority: +4\n", "Priority"},
		{"priority leading zero", "Priority: 04\n", "Priority"},
		{"priority overflow", "Priority: 99999999999999999999999\n", "Priority"},
		{"duplicate", "StoreDir: /nix/store\nStoreDir: /nix/store\n", "line 2: StoreDir: duplicate"},
		{"empty line", "StoreDir: /nix/store\n\n", "line 2"},
		{"no final newline", "StoreDir: /nix/store", "newline"},
		{"CRLF", "StoreDir: /nix/store\r\n", "line 1"},
		{"empty key", ": x\n", "line 1"},
		{"too long", "X: " + strings.Repeat("a", cacheinfo.MaxSize) + "\n", "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ci, err := cacheinfo.Parse(strings.NewReader(tt.in))
			if err == nil {
				t.Fatalf("Parse = %+v, nil; want error", ci)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse error = %q; want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestStringDefaultOrder(t *testing.T) {
	ci := &cacheinfo.CacheInfo{StoreDir: "/nix/store", WantMassQuery: true, Priority: 30,
		Extra: []cacheinfo.Field{{Key: "X", Value: "y"}}}
	want := "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 30\nX: y\n"
	if got := ci.String(); got != want {
		t.Errorf("String() = %q; want %q", got, want)
	}
	ci = &cacheinfo.CacheInfo{StoreDir: "/nix/store"}
	if got, want := ci.String(), "StoreDir: /nix/store\n"; got != want {
		t.Errorf("String() = %q; want %q", got, want)
	}
}

func TestModifiedAfterParse(t *testing.T) {
	ci, err := cacheinfo.Parse(strings.NewReader("StoreDir: /nix/store\n"))
	if err != nil {
		t.Fatal(err)
	}
	ci.Priority = 10
	ci.WantMassQuery = true
	if got, want := ci.String(), "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 10\n"; got != want {
		t.Errorf("String() = %q; want %q", got, want)
	}
}
