package layout_test

import (
	"context"
	"slices"
	"testing"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/mem"
	"github.com/nardedup/nardedup/repo/layout"
)

func TestKeyParse(t *testing.T) {
	tests := []struct {
		h   layout.Handle
		key string
	}{
		{layout.Handle{Type: layout.Config}, "config"},
		{layout.Handle{Type: layout.Pack, Name: "3fa0b1"}, "packs/3f/3fa0b1"},
		{layout.Handle{Type: layout.Index, Name: "3fa0b1"}, "index/3fa0b1"},
		{layout.Handle{Type: layout.Manifest, Name: "0c2wd7rk"}, "manifests/0c2wd7rk"},
		{layout.Handle{Type: layout.NarInfo, Name: "x8shz8np"}, "narinfo/x8shz8np.narinfo"},
		{layout.Handle{Type: layout.Tombstone, Name: "x8shz8np"}, "tombstones/x8shz8np.narinfo"},
		{layout.Handle{Type: layout.Session, Name: "a1b2"}, "sessions/a1b2"},
		{layout.Handle{Type: layout.Condemned}, "gc/condemned"},
		{layout.Handle{Type: layout.Forward, Name: "3fa0b1"}, "forward/3f/3fa0b1"},
		{layout.Handle{Type: layout.Upload, Name: "0c2wd7rk.nar.xz"}, "uploads/0c2wd7rk.nar.xz"},
		{layout.Handle{Type: layout.Names, Name: "9e1c/0c2wd7rk"}, "names/9e1c/0c2wd7rk"},
		{layout.Handle{Type: layout.Cursor, Name: "0123abcd"}, "cursors/0123abcd"},
		{layout.LogOf("0apnlz8j-libpsl.drv"), "log/0apnlz8j-libpsl.drv"},
		{layout.RealisationOf("sha256:1d7b!out"), "realisations/sha256:1d7b!out.doi"},
		{layout.Handle{Type: layout.NamesComplete}, "names-complete"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			if got := tt.h.Key(); got != tt.key {
				t.Errorf("Key() = %q; want %q", got, tt.key)
			}
			h, err := layout.Parse(tt.key)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.key, err)
			}
			if h != tt.h {
				t.Errorf("Parse(%q) = %+v; want %+v", tt.key, h, tt.h)
			}
			if !hasPrefix(tt.key, tt.h.Type.Prefix()) {
				t.Errorf("key %q is not under its kind's prefix %q", tt.key, tt.h.Type.Prefix())
			}
		})
	}
}

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }

func TestParseRejects(t *testing.T) {
	for _, key := range []string{
		"", "configx", "packs/3fa0", "packs/3f/", "packs//3fa0", "index/",
		"narinfo/x8shz8np", "narinfo/a/b.narinfo", "narinfo/.narinfo",
		"tombstones/x.nar", "gc/other", "other/thing", "manifests/a/b",
		"names/9e1c", "names/9e1c/", "names//0c2w", "names/9e1c/0c2w/x",
		"names-complete/x", "names/complete",
	} {
		if h, err := layout.Parse(key); err == nil {
			t.Errorf("Parse(%q) = %+v; want an error", key, h)
		}
	}
}

func TestImmutable(t *testing.T) {
	var got []string
	for _, ty := range layout.Types {
		if ty.Immutable() {
			got = append(got, ty.String())
		}
	}
	if want := []string{"packs", "index", "manifests", "forward", "names"}; !slices.Equal(got, want) {
		t.Errorf("immutable kinds %v; want %v", got, want)
	}
}

func TestNameOf(t *testing.T) {
	var h [32]byte
	key := layout.NameOf("hello", h).Key()
	if !hasPrefix(key, layout.NamesPrefix("hello")) || hasPrefix(key, layout.NamesPrefix("hell")) {
		t.Errorf("NameOf(hello) = %q; prefix %q", key, layout.NamesPrefix("hello"))
	}
	if got, err := layout.Parse(key); err != nil || got.Type != layout.Names {
		t.Errorf("Parse(%q) = %+v, %v; want a names object", key, got, err)
	}
}

func TestList(t *testing.T) {
	ctx := context.Background()
	be := mem.New()
	for _, key := range []string{
		"narinfo/aaaa.narinfo", "narinfo/bbbb.narinfo", "narinfo/stray.txt",
		"tombstones/aaaa.narinfo", "packs/3f/3fa0", "config",
		"forward/3f/3fa0", "forward/stray",
	} {
		if err := backend.PutBytes(ctx, be, key, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	err := layout.List(ctx, be, layout.NarInfo, func(name string, fi backend.Info) error {
		names = append(names, name)
		if fi.Size != 1 {
			t.Errorf("%s: size %d; want 1", fi.Key, fi.Size)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	if want := []string{"aaaa", "bbbb"}; !slices.Equal(names, want) {
		t.Errorf("narinfos %v; want %v", names, want)
	}
	names = nil
	err = layout.List(ctx, be, layout.Forward, func(name string, _ backend.Info) error {
		names = append(names, name)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"3fa0"}; !slices.Equal(names, want) {
		t.Errorf("forward records %v; want %v", names, want)
	}
}
