package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Only ingest creates a repository: every other command refuses a
// missing --repo directory without creating it, and every command refuses
// an empty --repo (from the flag or NARDEDUP_REPO) or one that is a
// mistyped URL, rather than taking it for a directory.
func TestRepoLocationRefused(t *testing.T) {
	t.Chdir(t.TempDir())
	export := t.TempDir()
	commands := map[string][]string{
		"serve":         {"--listen", "127.0.0.1:0"},
		"stats":         nil,
		"verify":        nil,
		"export":        {"--to", export},
		"forget":        {"--older-than", "30d"},
		"gc":            nil,
		"rebuild-index": nil,
		"ingest":        {t.TempDir()},
	}
	for name, extra := range commands {
		for _, tc := range []struct {
			repo    string
			env     bool // give --repo through NARDEDUP_REPO
			wantErr string
		}{
			{repo: "missing", wantErr: "no such directory"},
			{repo: "", wantErr: "--repo is empty"},
			{repo: "", env: true, wantErr: "--repo is empty"},
			{repo: "s3:bucket/prefix", wantErr: `scheme "s3:" unsupported`},
			{repo: "s3:bucket/prefix", env: true, wantErr: `scheme "s3:" unsupported`},
		} {
			if name == "ingest" && tc.repo == "missing" {
				continue // ingest creates it: see the end-to-end tests
			}
			args := []string{"nardedup", name}
			if tc.env {
				t.Setenv("NARDEDUP_REPO", tc.repo)
			} else {
				args = append(args, "--repo", tc.repo)
			}
			err := app().Run(append(args, extra...))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s --repo %q (env %v): %v; want an error containing %q", name, tc.repo, tc.env, err, tc.wantErr)
			}
			os.Unsetenv("NARDEDUP_REPO")
			ents, err := os.ReadDir(".")
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range ents {
				t.Errorf("%s --repo %q (env %v) created %s", name, tc.repo, tc.env, e.Name())
				os.RemoveAll(e.Name())
			}
			if _, err := os.Stat(filepath.Join(export, "nix-cache-info")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("export wrote into --to (stat: %v)", err)
			}
		}
	}
}
