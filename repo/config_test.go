package repo_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/mem"
	"github.com/nardedup/nardedup/repo"
)

// TestConfigFormat loads the configuration of the frozen version 1
// repository and writes it again: the split into chunk and NAR settings
// must not change a byte of the stored object.
func TestConfigFormat(t *testing.T) {
	ctx := context.Background()
	want, err := os.ReadFile(filepath.Join("..", "testdata", "repo-v1", "config"))
	if err != nil {
		t.Fatal(err)
	}
	be := mem.New()
	if err := backend.PutBytes(ctx, be, "config", want); err != nil {
		t.Fatal(err)
	}
	cfg, err := repo.LoadConfig(ctx, be)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NARs.StoreDir != "/nix/store" || cfg.NARs.Strip != "hash-name" || cfg.Chunks.ZstdLevel != 4 || cfg.Chunks.Chunker.AvgBits != 16 {
		t.Errorf("loaded %+v", cfg)
	}
	got, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if got = append(got, '\n'); !bytes.Equal(got, want) {
		t.Errorf("written again:\n%s\nwant:\n%s", got, want)
	}
}

func TestConfigLoad(t *testing.T) {
	ctx := context.Background()
	good := repo.DefaultConfig()
	good.ID = "0123456789abcdef"
	text, err := json.Marshal(good)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, text, bad string
	}{
		{"default", string(text), ""},
		// A configuration written before "encoder" existed means klauspost.
		{"no encoder", strings.Replace(strings.Replace(string(text), `"encoder":"libzstd",`, "", 1), `"zstd_level":4`, `"zstd_level":3`, 1), ""},
		{"unknown field", strings.Replace(string(text), `"id"`, `"colour":"red","id"`, 1), "unknown field"},
		{"newer format", strings.Replace(string(text), fmt.Sprintf(`"version":%d`, repo.FormatVersion), fmt.Sprintf(`"version":%d`, repo.FormatVersion+1), 1), fmt.Sprintf("format %d", repo.FormatVersion+1)},
		{"format 1", strings.Replace(string(text), fmt.Sprintf(`"version":%d`, repo.FormatVersion), `"version":1`, 1), ""},
		{"format 0", strings.Replace(string(text), fmt.Sprintf(`"version":%d`, repo.FormatVersion), `"version":0`, 1), "format 0"},
		{"no id", strings.Replace(string(text), `"id":"0123456789abcdef"`, `"id":""`, 1), "no repository id"},
		{"bad strip", strings.Replace(string(text), `"strip":"hash-name"`, `"strip":"all"`, 1), "strip mode"},
		{"bad level", strings.Replace(string(text), `"zstd_level":4`, `"zstd_level":99`, 1), "out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be := mem.New()
			if err := backend.PutBytes(ctx, be, "config", []byte(tc.text)); err != nil {
				t.Fatal(err)
			}
			cfg, err := repo.LoadConfig(ctx, be)
			if tc.bad == "" && err != nil || tc.bad != "" && (err == nil || !strings.Contains(err.Error(), tc.bad)) {
				t.Fatalf("LoadConfig(%s) = %+v, %v; want error %q", tc.text, cfg, err, tc.bad)
			}
		})
	}
}

// EnableXZFrames writes "xz_frames" into the configuration, the field that
// keeps programs older than xz frames from opening the repository (they
// refuse unknown fields, as "unknown field" above), and nothing else; a
// repository that never enables them keeps its configuration as it was.
// With gzip it adds "xz_gzip_frames" likewise.
func TestEnableXZFrames(t *testing.T) {
	ctx := context.Background()
	be := mem.New()
	cfg, err := repo.Create(ctx, be, repo.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	before, _ := backend.ReadAll(ctx, be, "config")
	if bytes.Contains(before, []byte("xz_frames")) {
		t.Fatalf("a new repository's configuration names xz frames:\n%s", before)
	}
	for i, want := range []bool{true, false} {
		changed, err := repo.EnableXZFrames(ctx, be, false)
		if err != nil || changed != want {
			t.Fatalf("call %d: changed %v, %v; want %v", i, changed, err, want)
		}
	}
	after, _ := backend.ReadAll(ctx, be, "config")
	if got := bytes.Replace(after, []byte(",\n  \"xz_frames\": true"), nil, 1); !bytes.Equal(got, before) {
		t.Fatalf("configuration after:\n%s\nwant the one before with xz_frames:\n%s", after, before)
	}
	loaded, err := repo.LoadConfig(ctx, be)
	if err != nil || !loaded.Chunks.XZFrames || loaded.Chunks.XZGzipFrames || loaded.ID != cfg.ID {
		t.Fatalf("loaded %+v, %v", loaded, err)
	}
	// Expanded gzip streams: one more field, written once.
	for i, want := range []bool{true, false} {
		changed, err := repo.EnableXZFrames(ctx, be, true)
		if err != nil || changed != want {
			t.Fatalf("gzip call %d: changed %v, %v; want %v", i, changed, err, want)
		}
	}
	withGzip, _ := backend.ReadAll(ctx, be, "config")
	if got := bytes.Replace(withGzip, []byte(",\n  \"xz_gzip_frames\": true"), nil, 1); !bytes.Equal(got, after) {
		t.Fatalf("configuration after:\n%s\nwant the one before with xz_gzip_frames:\n%s", withGzip, after)
	}
	if loaded, err := repo.LoadConfig(ctx, be); err != nil || !loaded.Chunks.XZGzipFrames {
		t.Fatalf("loaded %+v, %v", loaded, err)
	}
}
