package nixhash_test

import (
	"encoding/hex"
	"os/exec"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/internal/nixtest"
	"github.com/nardedup/nardedup/narfmt/nixhash"
)

// vectors were computed with Nix 2.8 (nix hash to-sri, to-base32,
// to-base64 and to-base16).
var vectors = []struct {
	algo               nixhash.Algo
	hex, b32, b64, sri string
}{
	{nixhash.SHA256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73",
		"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
		"sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="},
	{nixhash.SHA256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		"1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s",
		"ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=",
		"sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="},
	{nixhash.MD5, "900150983cd24fb0d6963f7d28e17f72", "3jgzhjhz9zjvbb0kyj7jc500ch",
		"kAFQmDzST7DWlj99KOF/cg==", "md5-kAFQmDzST7DWlj99KOF/cg=="},
	{nixhash.SHA1, "a9993e364706816aba3e25717850c26c9cd0d89d", "kpcd173cq987hw957sx6m0868wv3x6d9",
		"qZk+NkcGgWq6PiVxeFDCbJzQ2J0=", "sha1-qZk+NkcGgWq6PiVxeFDCbJzQ2J0="},
	{nixhash.SHA512, "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
		"2gs8k559z4rlahfx0y688s49m2vvszylcikrfinm30ly9rak69236nkam5ydvly1ai7xac99vxfc4ii84hawjbk876blyk1jfhkbbyx",
		"3a81oZNherrMQXNJriBBMRLm+k6JqX6iCp7u5ktV05ohkpkqJ0/BqDa6PCOj/uu9RU1EI2Q86A4qmslPpUyknw==",
		"sha512-3a81oZNherrMQXNJriBBMRLm+k6JqX6iCp7u5ktV05ohkpkqJ0/BqDa6PCOj/uu9RU1EI2Q86A4qmslPpUyknw=="},
}

func TestParseForms(t *testing.T) {
	for _, v := range vectors {
		a := string(v.algo)
		forms := []string{
			a + ":" + v.b32, a + ":" + v.hex, a + ":" + strings.ToUpper(v.hex),
			a + ":" + v.b64, v.sri, strings.TrimRight(v.sri, "="),
		}
		for _, in := range forms {
			h, err := nixhash.Parse(in)
			if err != nil {
				t.Errorf("Parse(%q): %v", in, err)
				continue
			}
			if h.Algo != v.algo || h.Hex() != v.hex {
				t.Errorf("Parse(%q) = %s %s; want %s %s", in, h.Algo, h.Hex(), v.algo, v.hex)
			}
			if got, want := h.String(), a+":"+v.b32; got != want {
				t.Errorf("Parse(%q).String() = %q; want %q", in, got, want)
			}
			if got := h.SRI(); got != v.sri {
				t.Errorf("Parse(%q).SRI() = %q; want %q", in, got, v.sri)
			}
			if got := h.Base64(); got != v.b64 {
				t.Errorf("Parse(%q).Base64() = %q; want %q", in, got, v.b64)
			}
		}
	}
}

func TestParseErrors(t *testing.T) {
	b32 := "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"
	hx := "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"no type", b32},
		{"unknown type", "sha384:" + b32},
		{"upper-case type", "SHA256:" + b32},
		{"empty digest", "sha256:"},
		{"short base32", "sha256:" + b32[1:]},
		{"bad base32 char", "sha256:e" + b32[1:]},
		{"base32 excess bits", "sha256:z" + b32[1:]},
		{"bad hex", "sha256:g" + hx[1:]},
		{"hex as SRI", "sha256-" + hx},
		{"base32 of sha1 length for sha256", "sha256:kpcd173cq987hw957sx6m0868wv3x6d9"},
		{"base64 bad char", "sha256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuF!="},
		{"SRI too short", "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hS"},
		{"SRI too long", "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFUAAAA="},
		{"SRI empty", "sha256-"},
		{"SRI line break", "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJ\nWZG3hSuFU="},
		{"trailing space", "sha256:" + b32 + " "},
		{"algo only", "sha256"},
		{"colon inside SRI", "sha256-x:" + b32},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if h, err := nixhash.Parse(tt.in); err == nil {
				t.Errorf("Parse(%q) = %v, nil; want error", tt.in, h)
			}
		})
	}
}

func TestParseWithAlgo(t *testing.T) {
	v := vectors[0]
	for _, in := range []string{v.hex, v.b32, v.b64, "sha256:" + v.b32, v.sri} {
		h, err := nixhash.ParseWithAlgo(nixhash.SHA256, in)
		if err != nil || h.Hex() != v.hex {
			t.Errorf("ParseWithAlgo(sha256, %q) = %v, %v; want %s", in, h, err, v.hex)
		}
	}
	if _, err := nixhash.ParseWithAlgo(nixhash.SHA1, "sha256:"+v.b32); err == nil {
		t.Errorf("ParseWithAlgo(sha1, sha256:...) = nil error; want error")
	}
	if _, err := nixhash.ParseWithAlgo("sha3", v.hex); err == nil {
		t.Errorf("ParseWithAlgo(sha3, ...) = nil error; want error")
	}
}

func TestSumAndEqual(t *testing.T) {
	for _, v := range vectors[1:] {
		h, err := nixhash.Sum(v.algo, []byte("abc"))
		if err != nil {
			t.Fatal(err)
		}
		if h.Hex() != v.hex {
			t.Errorf("Sum(%s, abc) = %s; want %s", v.algo, h.Hex(), v.hex)
		}
		p, _ := nixhash.Parse(v.sri)
		if !h.Equal(p) {
			t.Errorf("Sum(%s, abc).Equal(Parse(%q)) = false; want true", v.algo, v.sri)
		}
		other := nixhash.Hash{Algo: "x", Digest: p.Digest}
		if h.Equal(other) {
			t.Errorf("Equal with different algo = true; want false")
		}
	}
	if _, err := nixhash.New("blake3"); err == nil {
		t.Errorf("New(blake3) = nil error; want error")
	}
}

// TestAgainstNix converts hashes with Nix and checks that Parse agrees and
// that our output forms are the ones Nix prints.
func TestAgainstNix(t *testing.T) {
	nixtest.Require(t, "nix")
	for i, v := range vectors {
		raw, _ := hex.DecodeString(v.hex)
		raw[0] ^= byte(i + 1) // a digest not in the table
		h := nixhash.Hash{Algo: v.algo, Digest: raw}
		for _, conv := range []struct {
			cmd  string
			want string
		}{
			{"to-sri", h.SRI()},
			{"to-base32", h.Base32()},
			{"to-base16", h.Hex()},
			{"to-base64", h.Base64()},
		} {
			for _, in := range []string{h.String(), h.SRI(), string(h.Algo) + ":" + h.Hex()} {
				out, err := exec.Command("nix", "--extra-experimental-features", "nix-command",
					"hash", conv.cmd, in).Output()
				if err != nil {
					t.Fatalf("nix hash %s %s: %v", conv.cmd, in, err)
				}
				if got := strings.TrimSpace(string(out)); got != conv.want {
					t.Errorf("nix hash %s %s = %q; want %q", conv.cmd, in, got, conv.want)
				}
			}
		}
	}
}
