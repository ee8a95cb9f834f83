package narfmt_test

import (
	"crypto/sha256"
	"testing"

	"github.com/nardedup/nardedup/narfmt"
)

func TestHashRoundTrip(t *testing.T) {
	h := narfmt.Hash(sha256.Sum256([]byte("nar")))
	s := h.String()
	if len(s) != 52 {
		t.Fatalf("String() = %q: %d characters; want 52", s, len(s))
	}
	got, err := narfmt.ParseHash(s)
	if err != nil {
		t.Fatal(err)
	}
	if got != h {
		t.Errorf("ParseHash(%q) = %x; want %x", s, got, h)
	}
}

func TestParseHashRejects(t *testing.T) {
	good := narfmt.Hash(sha256.Sum256(nil)).String()
	for _, s := range []string{"", good[:51], good + "0", "e" + good[1:], "z" + good[1:]} {
		if h, err := narfmt.ParseHash(s); err == nil {
			t.Errorf("ParseHash(%q) = %x; want an error", s, h)
		}
	}
}
