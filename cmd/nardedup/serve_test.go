package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// An auth flag given empty, on the command line or through its variable,
// is refused rather than read as auth off, and the startup line says
// what auth is in force.
func TestServeAuthEmptyAndSummary(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	basic := filepath.Join(dir, "basic")
	if err := os.WriteFile(tokens, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(basic, []byte("user:pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		args     []string
		env      map[string]string
		wantErr  string // substring of the error; empty: no error
		wantLine string
	}{
		{name: "absent", wantLine: "auth: off (anyone may read)"},
		{name: "empty token flag", args: []string{"--auth-token", ""}, wantErr: "--auth-token is set but empty (check NARDEDUP_AUTH_TOKEN_FILE)"},
		{name: "empty basic flag", args: []string{"--basic-auth="}, wantErr: "--basic-auth is set but empty"},
		{name: "empty token var", env: map[string]string{"NARDEDUP_AUTH_TOKEN_FILE": ""}, wantErr: "--auth-token is set but empty"},
		{name: "empty basic var", env: map[string]string{"NARDEDUP_BASIC_AUTH_FILE": ""}, wantErr: "--basic-auth is set but empty (check NARDEDUP_BASIC_AUTH_FILE)"},
		{name: "empty var beside a good flag", args: []string{"--auth-token", tokens}, env: map[string]string{"NARDEDUP_BASIC_AUTH_FILE": ""}, wantErr: "--basic-auth is set but empty"},
		{name: "tokens", args: []string{"--auth-token", tokens}, wantLine: "auth: bearer tokens from " + tokens},
		{name: "both from env", env: map[string]string{"NARDEDUP_AUTH_TOKEN_FILE": tokens, "NARDEDUP_BASIC_AUTH_FILE": basic},
			wantLine: "auth: bearer tokens from " + tokens + ", basic auth from " + basic},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, v := range []string{"NARDEDUP_AUTH_TOKEN_FILE", "NARDEDUP_BASIC_AUTH_FILE"} {
				t.Setenv(v, "") // restored after the test
				os.Unsetenv(v)
			}
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			cmd := serveCommand()
			var line string
			cmd.Action = func(c *cli.Context) error {
				_, l, err := serveAuth(c)
				line = l
				return err
			}
			a := &cli.App{Name: "nardedup", Commands: []*cli.Command{cmd}}
			err := a.Run(append([]string{"nardedup", "serve", "--repo", dir}, tc.args...))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v; want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if line != tc.wantLine {
				t.Errorf("startup line %q; want %q", line, tc.wantLine)
			}
		})
	}
}
