package admin_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/nardedup/nardedup/admin"
	"github.com/nardedup/nardedup/internal/testrepo"
)

// Verify and Export report after every narinfo, counting them up to all
// the repository holds, with the NAR bytes done so far.
func TestProgressCountsNarInfos(t *testing.T) {
	ctx := context.Background()
	_, rp, _ := testrepo.Sample(t)
	sum, err := admin.Summarize(ctx, rp)
	if err != nil {
		t.Fatal(err)
	}
	var calls []admin.VerifyResult
	vres, err := admin.Verify(ctx, rp.NARs(), func(r admin.VerifyResult) { calls = append(calls, r) })
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != sum.NarInfos || vres.StorePaths != sum.NarInfos {
		t.Fatalf("verify: %d calls, StorePaths %d; want %d", len(calls), vres.StorePaths, sum.NarInfos)
	}
	for i, c := range calls {
		if c.StorePaths != i+1 {
			t.Errorf("verify call %d: StorePaths %d; want %d", i, c.StorePaths, i+1)
		}
	}
	if last := calls[len(calls)-1]; last.NarBytes != vres.NarBytes {
		t.Errorf("verify: last call NarBytes %d; want %d", last.NarBytes, vres.NarBytes)
	}

	var ecalls []admin.ExportResult
	eres, err := admin.Export(ctx, rp.NARs(), filepath.Join(t.TempDir(), "out"), "none", func(r admin.ExportResult) { ecalls = append(ecalls, r) })
	if err != nil {
		t.Fatal(err)
	}
	if len(ecalls) != sum.NarInfos || ecalls[len(ecalls)-1] != *eres {
		t.Fatalf("export: %d calls, the last %+v; want %d, the last %+v", len(ecalls), ecalls[len(ecalls)-1], sum.NarInfos, *eres)
	}
}
