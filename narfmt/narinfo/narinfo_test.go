package narinfo_test

import (
	"strings"
	"testing"

	"github.com/nardedup/nardedup/narfmt/narinfo"
	"github.com/nardedup/nardedup/narfmt/nixbase32"
)

func TestNarSHA256(t *testing.T) {
	const digest = "1zx9y15kwhx8495pnbj7dk6mbqslwdp0gcbi80yihw8wz8cmh99s"
	for _, tc := range []struct {
		narHash string
		ok      bool
	}{
		{"sha256:" + digest, true},
		{"sha256-" + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", true},
		{"sha1:" + "0000000000000000000000000000000000000000", false},
		{"sha256:" + digest[1:], false},
		{"", false},
	} {
		n := &narinfo.NarInfo{StorePath: "/nix/store/x", NarHash: tc.narHash}
		sum, err := n.NarSHA256()
		if (err == nil) != tc.ok {
			t.Errorf("%q: %v", tc.narHash, err)
			continue
		}
		if tc.ok && strings.HasPrefix(tc.narHash, "sha256:") && nixbase32.EncodeToString(sum[:]) != digest {
			t.Errorf("%q: digest %x", tc.narHash, sum)
		}
	}
}
