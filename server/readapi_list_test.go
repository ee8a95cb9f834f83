package server

import (
	"bytes"
	"context"
	"math/rand"
	"slices"
	"testing"

	"github.com/nardedup/nardedup/chunkstore/backend/mem"
	"github.com/nardedup/nardedup/narfmt/nixbase32"
	"github.com/nardedup/nardedup/repo/layout"
)

// TestNarInfoPages pages through 500 narinfos, listed by the backend in
// no particular order, with several page sizes: every hash comes once,
// in order, and a page never holds more than its limit.
func TestNarInfoPages(t *testing.T) {
	ctx := context.Background()
	be := mem.New()
	r := rand.New(rand.NewSource(1))
	var want []string
	for range 500 {
		b := make([]byte, 20)
		r.Read(b)
		h := nixbase32.EncodeToString(b)
		want = append(want, h)
		if err := be.Put(ctx, layout.NarInfoOf(h).Key(), bytes.NewReader(nil), 0); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(want)
	for _, limit := range []int{1, 7, 100, 499, 500, 1000} {
		var got []string
		after := ""
		for {
			page, err := listNarInfoPage(ctx, be, after, limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Hashes) > limit {
				t.Fatalf("limit %d: a page of %d", limit, len(page.Hashes))
			}
			got = append(got, page.Hashes...)
			if !page.More {
				break
			}
			after = page.Hashes[len(page.Hashes)-1]
		}
		if !slices.Equal(got, want) {
			t.Fatalf("limit %d: listed %d hashes, want %d in order", limit, len(got), len(want))
		}
	}
}
