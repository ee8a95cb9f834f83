package units_test

import (
	"testing"

	"github.com/nardedup/nardedup/bench/internal/units"
)

func TestUnits(t *testing.T) {
	for _, c := range []struct {
		got, want string
	}{
		{units.MiB(3 << 19), "1.5 MiB"},
		{units.GiB(3 << 29), "1.5 GiB"},
		{units.Exact(4 << 20), "4 MiB"},
		{units.Exact(1536 << 10), "1536 KiB"},
		{units.Exact(64 << 10), "64 KiB"},
		{units.Exact(1000), "1000 B"},
		{units.Size(5 << 20), "5.0 MiB"},
		{units.Size(1536), "1.5 KiB"},
		{units.Size(1023), "1023 B"},
	} {
		if c.got != c.want {
			t.Errorf("got %q; want %q", c.got, c.want)
		}
	}
}
