package pathstrip_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/pathstrip"
)

// rebuild renders a template where @N stands for the N-th store path, with
// hashes and names chosen by gen.
func rebuild(template string, gen int, bumpNames bool) []byte {
	const alphabet = "0123456789abcdfghijklmnpqrsvwxyz"
	var b strings.Builder
	parts := strings.Split(template, "@")
	b.WriteString(parts[0])
	for _, p := range parts[1:] {
		var n int
		fmt.Sscanf(p, "%d", &n)
		rng := rand.New(rand.NewPCG(uint64(n), uint64(gen)))
		h := make([]byte, 32)
		for i := range h {
			h[i] = alphabet[rng.IntN(32)]
		}
		name := fmt.Sprintf("pkg%d-1.%d", n, n)
		if bumpNames {
			name = fmt.Sprintf("pkg%d-1.%d.%d", n, n, gen)
		}
		b.WriteString(sp(string(h), name))
		b.WriteString(strings.TrimLeft(p, "0123456789"))
	}
	return []byte(b.String())
}

func dedupTemplate() string {
	var b strings.Builder
	rng := rand.New(rand.NewPCG(9, 9))
	for i := range 300 {
		fmt.Fprintf(&b, "\x7fELF%d@%d/lib:@%d/lib\x00", i, rng.IntN(20), rng.IntN(20))
		b.WriteString(strings.Repeat("code", rng.IntN(100)))
		fmt.Fprintf(&b, "#!@%d/bin/sh\n", rng.IntN(20))
	}
	return b.String()
}

func TestDedupProperty(t *testing.T) {
	tmpl := dedupTemplate()
	rng := rand.New(rand.NewPCG(5, 6))
	cases := []struct {
		mode pathstrip.Mode
		bump bool
	}{{pathstrip.CutHash, false}, {pathstrip.CutHashName, false}, {pathstrip.CutHashName, true}}
	for _, c := range cases {
		opt := pathstrip.Options{Mode: c.mode}
		g1 := checkRoundTrip(t, rebuild(tmpl, 1, c.bump), opt, rng)
		g2 := checkRoundTrip(t, rebuild(tmpl, 2, c.bump), opt, rng)
		if bytes.Equal(rebuild(tmpl, 1, c.bump), rebuild(tmpl, 2, c.bump)) || g1.cuts == 0 {
			t.Fatalf("%v: generations do not differ", c.mode)
		}
		if !bytes.Equal(g1.residue, g2.residue) {
			t.Fatalf("%v bump=%v: residue differs", c.mode, c.bump)
		}
		if !bytes.Equal(g1.positions, g2.positions) {
			t.Fatalf("%v bump=%v: got positions %x; want %x", c.mode, c.bump, g2.positions, g1.positions)
		}
		if strings.Join(g1.paths, "") == strings.Join(g2.paths, "") {
			t.Fatalf("%v: got equal paths lists; want them to differ", c.mode)
		}
	}
}
