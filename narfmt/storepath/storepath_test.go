package storepath_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/internal/nixtest"
	"github.com/nardedup/nardedup/narfmt/storepath"
)

const h = "0c2wd7rkrsp80vm543fsga2n0vzgs345"

func TestParse(t *testing.T) {
	tests := []struct {
		dir, in    string
		hash, name string
	}{
		{"/nix/store", "/nix/store/" + h + "-hello-2.12", h, "hello-2.12"},
		{"/nix/store", "/nix/store/" + h + "-.dotfile", h, ".dotfile"},
		{"/nix/store", "/nix/store/" + h + "-a", h, "a"},
		{"/nix/store", "/nix/store/" + h + "--", h, "-"},
		{"/nix/store", "/nix/store/" + h + "-+-._?=AZaz09", h, "+-._?=AZaz09"},
		{"/nix/store", "/nix/store/" + h + "-" + strings.Repeat("x", 211), h, strings.Repeat("x", 211)},
		{"/tmp/my store", "/tmp/my store/" + h + "-x.drv", h, "x.drv"},
		{"/s", "/s/" + h + "-x", h, "x"},
	}
	for _, tt := range tests {
		p, err := storepath.Parse(tt.dir, tt.in)
		if err != nil {
			t.Errorf("Parse(%q, %q): %v", tt.dir, tt.in, err)
			continue
		}
		want := storepath.Path{StoreDir: tt.dir, Hash: tt.hash, Name: tt.name}
		if p != want {
			t.Errorf("Parse(%q, %q) = %+v; want %+v", tt.dir, tt.in, p, want)
		}
		if got := p.String(); got != tt.in {
			t.Errorf("String() = %q; want %q", got, tt.in)
		}
		if got, want := p.Base(), tt.hash+"-"+tt.name; got != want {
			t.Errorf("Base() = %q; want %q", got, want)
		}
		b, err := storepath.ParseBase(p.Base())
		if err != nil || b.Hash != p.Hash || b.Name != p.Name || b.StoreDir != "" {
			t.Errorf("ParseBase(%q) = %+v, %v; want hash and name, no store dir", p.Base(), b, err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, dir, in string }{
		{"empty", "/nix/store", ""},
		{"other store", "/nix/store", "/gnu/store/" + h + "-x"},
		{"prefix only", "/nix/store", "/nix/store/"},
		{"store dir prefix", "/nix/store", "/nix/storex/" + h + "-x"},
		{"sub path", "/nix/store", "/nix/store/" + h + "-x/bin"},
		{"trailing slash", "/nix/store", "/nix/store/" + h + "-x/"},
		{"double slash", "/nix/store", "/nix/store//" + h + "-x"},
		{"relative", "/nix/store", "nix/store/" + h + "-x"},
		{"empty name", "/nix/store", "/nix/store/" + h + "-"},
		{"no dash", "/nix/store", "/nix/store/" + h + "Xfoo"},
		{"short hash", "/nix/store", "/nix/store/" + h[1:] + "-foo"},
		{"hash e", "/nix/store", "/nix/store/e" + h[1:] + "-foo"},
		{"hash o", "/nix/store", "/nix/store/o" + h[1:] + "-foo"},
		{"hash t", "/nix/store", "/nix/store/t" + h[1:] + "-foo"},
		{"hash u", "/nix/store", "/nix/store/u" + h[1:] + "-foo"},
		{"hash upper", "/nix/store", "/nix/store/" + strings.ToUpper(h) + "-foo"},
		{"name too long", "/nix/store", "/nix/store/" + h + "-" + strings.Repeat("x", 212)},
		{"name @", "/nix/store", "/nix/store/" + h + "-a@b"},
		{"name space", "/nix/store", "/nix/store/" + h + "-a b"},
		{"name NUL", "/nix/store", "/nix/store/" + h + "-a\x00"},
		{"name newline", "/nix/store", "/nix/store/" + h + "-a\n"},
		{"name utf8", "/nix/store", "/nix/store/" + h + "-caf\u00e9"},
		{"bad store dir relative", "nix/store", "nix/store/" + h + "-x"},
		{"bad store dir trailing slash", "/nix/store/", "/nix/store//" + h + "-x"},
		{"bad store dir root", "/", "//" + h + "-x"},
		{"bad store dir dotdot", "/nix/../store", "/nix/../store/" + h + "-x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if p, err := storepath.Parse(tt.dir, tt.in); err == nil {
				t.Errorf("Parse(%q, %q) = %+v, nil; want error", tt.dir, tt.in, p)
			}
		})
	}
}

func TestValidateName(t *testing.T) {
	for _, name := range []string{".", "..", ".-x", "..-x", ".foo", "x", strings.Repeat("a", 211)} {
		if err := storepath.ValidateName(name); err != nil {
			t.Errorf("ValidateName(%q) = %v; want nil (Nix 2.8 accepts it)", name, err)
		}
	}
	for _, name := range []string{"", strings.Repeat("a", 212), "a/b", "a:b", "a~", "a*"} {
		if err := storepath.ValidateName(name); err == nil {
			t.Errorf("ValidateName(%q) = nil; want error", name)
		}
	}
}

func TestIsNameChar(t *testing.T) {
	const allowed = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-._?="
	for c := 0; c < 256; c++ {
		want := strings.IndexByte(allowed, byte(c)) >= 0
		if got := storepath.IsNameChar(byte(c)); got != want {
			t.Errorf("IsNameChar(%q) = %v; want %v", byte(c), got, want)
		}
	}
}

func TestIsHash(t *testing.T) {
	for _, tt := range []struct {
		hash string
		want bool
	}{
		{h, true},
		{"0123456789abcdfghijklmnpqrsvwxyz", true},
		{h[:31], false},
		{h + "0", false},
		{"", false},
		{strings.Repeat("e", 32), false},
		{strings.Repeat("o", 32), false},
		{strings.Repeat("t", 32), false},
		{strings.Repeat("u", 32), false},
		{h[:31] + "A", false},
		{h[:31] + "\x00", false},
	} {
		if got := storepath.IsHash(tt.hash); got != tt.want {
			t.Errorf("IsHash(%q) = %v; want %v", tt.hash, got, tt.want)
		}
		if got := storepath.IsHash([]byte(tt.hash)); got != tt.want {
			t.Errorf("IsHash([]byte(%q)) = %v; want %v", tt.hash, got, tt.want)
		}
		if got := storepath.ValidateHash(tt.hash) == nil; got != tt.want {
			t.Errorf("ValidateHash(%q) == nil is %v; want %v", tt.hash, got, tt.want)
		}
	}
}

func TestNew(t *testing.T) {
	p, err := storepath.New(storepath.DefaultStoreDir, h, "x")
	if err != nil || p.String() != "/nix/store/"+h+"-x" {
		t.Errorf("New = %v, %v; want /nix/store/%s-x", p, err, h)
	}
	if _, err := storepath.New(storepath.DefaultStoreDir, h, "a/b"); err == nil {
		t.Errorf("New with name a/b = nil error; want error")
	}
}

// TestNixPaths adds files to a private store with Nix and parses the paths
// Nix prints, including a name with a leading dot.
func TestNixPaths(t *testing.T) {
	nixtest.Require(t, "nix-store")
	dir := t.TempDir()
	for _, name := range []string{".dotfile", "a+b=c?d_e-1.0", strings.Repeat("n", 211)} {
		file := filepath.Join(dir, name)
		if err := os.WriteFile(file, []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("nix-store", "--add", file)
		cmd.Env = nixtest.Env(filepath.Join(dir, "root"))
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("nix-store --add %s: %v", name, err)
		}
		s := strings.TrimSpace(string(out))
		p, err := storepath.Parse(storepath.DefaultStoreDir, s)
		if err != nil {
			t.Errorf("Parse(%q): %v", s, err)
		} else if p.Name != name {
			t.Errorf("Parse(%q).Name = %q; want %q", s, p.Name, name)
		}
	}
}

func TestPackageName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"hello-2.12.1", "hello"},
		{"hello-2.12.1-man", "hello"},
		{"hello-2.10", "hello"},
		{"hello", "hello"},
		{"python3.11-requests-2.31.0", "python3.11-requests"},
		{"glibc-2.38-44-bin", "glibc"},
		{"source", "source"},
		{"foo-bar-baz", "foo-bar-baz"},
		{"foo-", "foo-"},
		{"foo--1", "foo"},
		{"-1", ""},
		{"linux-headers-6.1", "linux-headers"},
		{"nixos-system-nixos-24.05pre", "nixos-system-nixos"},
	} {
		if got := storepath.PackageName(tc.in); got != tc.want {
			t.Errorf("PackageName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
