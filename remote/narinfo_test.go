package remote_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/remote"
	"github.com/nardedup/nardedup/server"
)

// TestNarInfoList pages through the sample's narinfos one and two at a
// time: every stored hash comes once, in order, and each narinfo comes
// back byte for byte as stored.
func TestNarInfoList(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.client(t, remote.Options{})
	var want []string
	must(t, f.rp.NARs().ListNarInfos(ctx, func(h string) error { want = append(want, h); return nil }))
	slices.Sort(want)
	if len(want) < 3 {
		t.Fatalf("%d narinfos in the sample, want 3 or more", len(want))
	}
	for _, limit := range []int{1, 2, 0} {
		var got []string
		after, pages := "", 0
		for {
			hashes, more, err := c.NarInfos(ctx, after, limit)
			must(t, err)
			pages++
			got = append(got, hashes...)
			if !more {
				break
			}
			after = hashes[len(hashes)-1]
		}
		if !slices.Equal(got, want) {
			t.Fatalf("limit %d: listed %v, want %v", limit, got, want)
		}
		if limit == 1 && pages < len(want) {
			t.Errorf("limit 1: %d pages for %d narinfos", pages, len(want))
		}
	}
	for _, h := range want {
		text, err := c.NarInfo(ctx, h)
		must(t, err)
		stored, err := f.rp.NARs().NarInfo(ctx, h)
		must(t, err)
		if !bytes.Equal(text, stored) {
			t.Errorf("narinfo %s: %q, stored %q", h, text, stored)
		}
	}
	if _, err := c.NarInfo(ctx, strings.Repeat("0", 32)); !errors.Is(err, remote.ErrNotFound) {
		t.Errorf("missing narinfo: %v, want not found", err)
	}
	for _, q := range []string{"?after=x", "?limit=0", "?limit=100000"} {
		if resp := get(t, f.url+server.ReadAPIPrefix+"narinfos"+q); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("narinfos%s: %s, want 400", q, resp.Status)
		}
	}
}

// TestNarInfoListHostile has the server list hashes out of order: the
// client refuses the page, naming it.
func TestNarInfoListHostile(t *testing.T) {
	f := newFixture(t)
	f.setTamper(func(w http.ResponseWriter, r *http.Request, h http.Handler) bool {
		if !strings.HasSuffix(r.URL.Path, "/narinfos") {
			return false
		}
		w.Write([]byte(`{"hashes":["` + strings.Repeat("1", 32) + `","` + strings.Repeat("0", 32) + `"],"more":false}`))
		return true
	})
	_, _, err := f.client(t, remote.Options{}).NarInfos(context.Background(), "", 0)
	if !errors.Is(err, remote.ErrCorrupt) || !strings.Contains(err.Error(), "narinfo list") {
		t.Fatalf("hashes out of order: %v, want a corrupt narinfo list", err)
	}
}
