package gc_test

import (
	"context"
	"testing"

	"github.com/nardedup/nardedup/gc"
	"github.com/nardedup/nardedup/internal/sample"
)

// Freed estimates, without changing anything, what forgetting paths and
// collecting frees; the estimate is close to what a collection then frees.
func TestFreedEstimate(t *testing.T) {
	r := newRepo(t, smallConfig())
	for gen := 1; gen <= 3; gen++ {
		ingestInto(t, r.rp, bucket(t, sample.Paths(gen)))
	}
	keep := make(map[string]bool)
	for i, p := range sample.Paths(3) {
		keep[p] = i%2 == 0
	}
	drop := make(map[string]bool)
	var old []string
	for gen := 1; gen <= 3; gen++ {
		for _, p := range sample.Paths(gen) {
			if !keep[p] {
				drop[hashOf(p)] = true
				old = append(old, p)
			}
		}
	}
	before := r.size(t)
	est, err := gc.Freed(context.Background(), r.rp, drop, t.TempDir())
	must(t, err)
	if r.size(t) != before {
		t.Fatal("Freed changed the repository")
	}
	r.forget(t, old)
	o := opts(t)
	o.RepackBelow = 0.5
	rep, err := gc.Collect(context.Background(), r.rp, o)
	must(t, err)
	freed := before - r.size(t)
	t.Logf("estimated %d bytes, freed %d (report: %d)", est, freed, rep.FreedBytes)
	if freed <= 0 || est < freed*8/10 || est > freed*12/10 {
		t.Errorf("estimated %d bytes, freed %d", est, freed)
	}
}
