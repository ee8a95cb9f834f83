package nixbase32_test

import (
	"bytes"
	"encoding/hex"
	"os/exec"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/internal/nixtest"
	"github.com/nardedup/nardedup/narfmt/nixbase32"
)

// vectors were computed with Nix 2.8: nix-hash --type TYPE --to-base32 HEX.
var vectors = []struct {
	typ, hex, b32 string
}{
	{"sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"},
	{"sha256", strings.Repeat("00", 32), strings.Repeat("0", 52)},
	{"sha256", strings.Repeat("ff", 32), "1" + strings.Repeat("z", 51)},
	{"sha256", "01" + strings.Repeat("00", 30) + "80", "1" + strings.Repeat("0", 50) + "1"},
	{"sha256", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s"},
	{"sha1", "0001020304050607080910111213141516171819", "34c1f5hm2h9i448h1440f1h50h1h4080"},
	{"sha1", strings.Repeat("ff", 20), strings.Repeat("z", 32)},
	{"sha1", "a9993e364706816aba3e25717850c26c9cd0d89d", "kpcd173cq987hw957sx6m0868wv3x6d9"},
	{"md5", "000102030405060708090a0b0c0d0e0f", "0g1q6hq2qa1440f1h50h1h4080"},
	{"md5", strings.Repeat("ff", 16), "7" + strings.Repeat("z", 25)},
	{"md5", "900150983cd24fb0d6963f7d28e17f72", "3jgzhjhz9zjvbb0kyj7jc500ch"},
	{"sha512", "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f", "2gs8k559z4rlahfx0y688s49m2vvszylcikrfinm30ly9rak69236nkam5ydvly1ai7xac99vxfc4ii84hawjbk876blyk1jfhkbbyx"},
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestKnownAnswers(t *testing.T) {
	for _, v := range vectors {
		raw := mustHex(t, v.hex)
		if got := nixbase32.EncodeToString(raw); got != v.b32 {
			t.Errorf("EncodeToString(%s) = %q; want %q", v.hex, got, v.b32)
		}
		if got := nixbase32.EncodedLen(len(raw)); got != len(v.b32) {
			t.Errorf("EncodedLen(%d) = %d; want %d", len(raw), got, len(v.b32))
		}
		if got := nixbase32.DecodedLen(len(v.b32)); got != len(raw) {
			t.Errorf("DecodedLen(%d) = %d; want %d", len(v.b32), got, len(raw))
		}
		got, err := nixbase32.DecodeString(v.b32)
		if err != nil || !bytes.Equal(got, raw) {
			t.Errorf("DecodeString(%q) = %x, %v; want %s, nil", v.b32, got, err, v.hex)
		}
	}
}

// TestAgainstNix re-runs Nix on the vectors and on a few generated inputs.
func TestAgainstNix(t *testing.T) {
	nixtest.Require(t, "nix-hash")
	inputs := append([]struct{ typ, hex, b32 string }{}, vectors...)
	for i := 0; i < 8; i++ {
		b := make([]byte, 32)
		for k := range b {
			b[k] = byte(k*37 + i*101)
		}
		inputs = append(inputs, struct{ typ, hex, b32 string }{"sha256", hex.EncodeToString(b), ""})
	}
	for _, v := range inputs {
		out, err := exec.Command("nix-hash", "--type", v.typ, "--to-base32", v.hex).Output()
		if err != nil {
			t.Fatalf("nix-hash: %v", err)
		}
		want := strings.TrimSpace(string(out))
		if got := nixbase32.EncodeToString(mustHex(t, v.hex)); got != want {
			t.Errorf("EncodeToString(%s) = %q; want %q", v.hex, got, want)
		}
	}
}

func TestRoundTripAllLengths(t *testing.T) {
	for n := 0; n <= 70; n++ {
		src := make([]byte, n)
		for i := range src {
			src[i] = byte(i*151 + n)
		}
		enc := nixbase32.EncodeToString(src)
		if len(enc) != nixbase32.EncodedLen(n) {
			t.Fatalf("len(Encode(%d bytes)) = %d; want %d", n, len(enc), nixbase32.EncodedLen(n))
		}
		dec, err := nixbase32.DecodeString(enc)
		if err != nil || !bytes.Equal(dec, src) {
			t.Fatalf("DecodeString(EncodeToString(%x)) = %x, %v; want %x, nil", src, dec, err, src)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	good := "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"
	tests := []struct {
		name, in string
	}{
		{"letter e", "e" + good[1:]},
		{"letter o", good[:10] + "o" + good[11:]},
		{"letter t", good[:51] + "t"},
		{"letter u", good[:20] + "u" + good[21:]},
		{"upper case", strings.ToUpper(good)},
		{"space", good[:51] + " "},
		{"NUL", good[:51] + "\x00"},
		{"high byte", good[:51] + "\xff"},
		{"excess bits sha256", "2" + good[1:]},
		{"excess bits sha256 max", "z" + good[1:]},
		{"excess bits md5", "8" + strings.Repeat("0", 25)},
		{"excess bits 1 byte", "80"},
		{"short by one", good[1:]},
		{"long by one, excess bit", "h" + good},
		{"length 1", "0"},
		{"length 3", "000"},
		{"length 6", "000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := nixbase32.DecodeString(tt.in)
			if err == nil {
				t.Errorf("DecodeString(%q) = %x, nil; want error", tt.in, got)
			}
		})
	}
}

func TestValidByte(t *testing.T) {
	for c := 0; c < 256; c++ {
		want := strings.IndexByte(nixbase32.Alphabet, byte(c)) >= 0
		if got := nixbase32.ValidByte(byte(c)); got != want {
			t.Errorf("ValidByte(%q) = %v; want %v", byte(c), got, want)
		}
	}
}

func TestCorruptInputOffset(t *testing.T) {
	_, err := nixbase32.DecodeString("00000000000000000000000000000e00")
	cerr, ok := err.(nixbase32.CorruptInputError)
	if !ok || int(cerr) != 29 {
		t.Errorf("error = %v; want CorruptInputError(29)", err)
	}
}
