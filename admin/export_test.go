package admin_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/admin"
	"github.com/nardedup/nardedup/internal/testrepo"
)

// Export writes into a missing or empty directory or an earlier export,
// and refuses any other directory, a repository above all.
func TestExportRefusesForeignDirectory(t *testing.T) {
	be, rp, bucket := testrepo.Sample(t)
	st := rp.NARs()
	ctx := context.Background()
	earlier := filepath.Join(t.TempDir(), "export")
	if _, err := admin.Export(ctx, st, earlier, "none", nil); err != nil {
		t.Fatal(err)
	}
	otherStore := t.TempDir()
	must(t, os.WriteFile(filepath.Join(otherStore, "nix-cache-info"), []byte("StoreDir: /gnu/store\n"), 0o644))
	notCache := t.TempDir()
	must(t, os.WriteFile(filepath.Join(notCache, "notes.txt"), []byte("mine\n"), 0o644))
	for _, tc := range []struct {
		name, dir, wantErr string
	}{
		{"missing", filepath.Join(t.TempDir(), "new"), ""},
		{"empty", t.TempDir(), ""},
		{"earlier export", earlier, ""},
		{"upstream cache", bucket, ""},
		{"repository", be.Dir(), "is a nardedup repository"},
		{"other files", notCache, "not empty and not a binary cache"},
		{"other store", otherStore, "binary cache of store /gnu/store"},
	} {
		_, err := admin.Export(ctx, st, tc.dir, "zstd", nil)
		if tc.wantErr == "" && err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), tc.dir)) {
			t.Errorf("%s: %v; want an error naming %s and saying %q", tc.name, err, tc.dir, tc.wantErr)
		}
	}
	if _, err := os.Stat(filepath.Join(notCache, "nar")); err == nil {
		t.Errorf("export wrote into a directory it refused")
	}
}
