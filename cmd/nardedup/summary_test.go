package main

import (
	"strings"
	"testing"

	"github.com/nardedup/nardedup/ingest"
)

// The ingest summary counts as new only the NARs that became visible.
func TestSummaryCountsCommittedNARs(t *testing.T) {
	var b strings.Builder
	printSummary(&b, &ingest.Stats{Seen: 227, NARs: 100, Committed: 0, Failed: 127})
	if out := b.String(); !strings.Contains(out, " 0 new NARs,") || !strings.Contains(out, "127 failed") {
		t.Errorf("NARs read but none committed:\n%s", out)
	}
}
