package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
)

// A --config file sets flags by their names, below the command line and
// the environment; a key that is no flag of any command, a value of the
// wrong type and a file of an unknown kind are refused, naming the key or
// the file; a required flag may come from the file alone.
func TestConfigFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	toml := write("nardedup.toml", fmt.Sprintf(`# serve and gc share the file
repo = %q
listen = "127.0.0.1:9999"
priority = 7
frame-cache = 0
grace = "2h"
repack-below = 1
dry-run = true
`, dir))
	yml := write("nardedup.yaml", fmt.Sprintf("repo: %s\nlisten: 127.0.0.1:9998\npriority: 8\ngrace: 3h\nrepack-below: 0.25\n", dir))
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		want    string // the flags the command saw; empty: an error is wanted
		wantErr string
	}{
		{name: "serve toml", args: []string{"serve", "--config", toml}, want: "repo=" + dir + " listen=127.0.0.1:9999 priority=7 frame-cache=0"},
		{name: "gc toml", args: []string{"gc", "--config", toml}, want: "repo=" + dir + " grace=2h0m0s repack-below=1 dry-run=true"},
		{name: "serve yaml", args: []string{"serve", "--config", yml}, want: "repo=" + dir + " listen=127.0.0.1:9998 priority=8 frame-cache=256M"},
		{name: "gc yaml", args: []string{"gc", "--config", yml}, want: "repo=" + dir + " grace=3h0m0s repack-below=0.25 dry-run=false"},
		{name: "flag overrides", args: []string{"serve", "--config", toml, "--priority", "3", "--repo", "/elsewhere"}, want: "repo=/elsewhere listen=127.0.0.1:9999 priority=3 frame-cache=0"},
		{name: "env overrides", args: []string{"serve"}, env: map[string]string{"NARDEDUP_CONFIG": toml, "NARDEDUP_LISTEN": "[::1]:80"},
			want: "repo=" + dir + " listen=[::1]:80 priority=7 frame-cache=0"},
		{name: "unknown key", args: []string{"serve", "--config", write("typo.toml", "lisen = \"127.0.0.1:1\"\nrepo = \"/r\"\n")},
			wantErr: `typo.toml: unknown key "lisen": no nardedup command has a flag --lisen`},
		{name: "section", args: []string{"serve", "--config", write("section.yml", "serve:\n  listen: x\n")}, wantErr: `unknown key "serve"`},
		{name: "wrong type", args: []string{"serve", "--config", write("type.toml", "repo = \"/r\"\npriority = \"high\"\n")}, wantErr: "priority"},
		{name: "bad syntax", args: []string{"serve", "--config", write("bad.toml", "repo = \n")}, wantErr: "bad.toml"},
		{name: "unknown kind", args: []string{"serve", "--config", write("nardedup.conf", "")}, wantErr: "nardedup.conf: want a .toml, .yaml or .yml file"},
		{name: "missing file", args: []string{"serve", "--config", filepath.Join(dir, "none.toml")}, wantErr: "none.toml"},
		{name: "empty config var", args: []string{"serve", "--repo", dir}, env: map[string]string{"NARDEDUP_CONFIG": ""}, wantErr: "--config is set but empty (check NARDEDUP_CONFIG)"},
		{name: "no repo anywhere", args: []string{"serve", "--config", write("norepo.toml", "priority = 1\n")}, wantErr: "--repo is not set: give it on the command line, in NARDEDUP_REPO, or in --config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, v := range []string{"NARDEDUP_CONFIG", "NARDEDUP_LISTEN", "NARDEDUP_REPO"} {
				t.Setenv(v, "") // restored after the test
				os.Unsetenv(v)
			}
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			a := app()
			var got string
			for _, cmd := range a.Commands {
				cmd.Action = func(c *cli.Context) error {
					names := map[string][]string{"serve": {"repo", "listen", "priority", "frame-cache"}, "gc": {"repo", "grace", "repack-below", "dry-run"}}[cmd.Name]
					var vals []string
					for _, n := range names {
						v := c.Value(n)
						if d, ok := v.(time.Duration); ok {
							v = d.String()
						}
						vals = append(vals, fmt.Sprintf("%s=%v", n, v))
					}
					got = strings.Join(vals, " ")
					return nil
				}
			}
			err := a.Run(append([]string{"nardedup"}, tc.args...))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v; want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}
