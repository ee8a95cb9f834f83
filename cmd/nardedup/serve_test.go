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
			checkServeLine(t, dir, tc.args, tc.wantErr, tc.wantLine, func(c *cli.Context) (string, error) {
				_, line, err := serveAuth(c, "auth-token", "basic-auth")
				return line, err
			})
		})
	}
}

// The slow-reader flags reach the server options, bad values are refused
// naming the flag, and the startup line names the limits in force.
func TestServeLimits(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args     []string
		wantErr  string
		wantLine string
	}{
		{args: []string{"--max-nar-streams", "125"},
			wantLine: "NAR streams: 125, 7 kept for new clients; per client: 16; min rate: 16 KiB/s over 30s"},
		{args: []string{"--max-nar-streams", "1024", "--min-rate", "64K", "--min-rate-window", "1m"},
			wantLine: "NAR streams: 1024, 64 kept for new clients; per client: 128; min rate: 64 KiB/s over 1m0s"},
		{args: []string{"--max-nar-streams", "8", "--max-nar-streams-per-client", "-1", "--min-rate", "0"},
			wantLine: "NAR streams: 8, 1 kept for new clients; per client: no bound; min rate: none"},
		{args: []string{"--max-nar-streams", "-1", "--max-nar-streams-per-client", "4"},
			wantLine: "NAR streams: no bound; per client: 4; min rate: 16 KiB/s over 30s"},
		{args: []string{"--min-rate", "fast"}, wantErr: `--min-rate "fast"`},
		{args: []string{"--min-rate-window", "0s"}, wantErr: "--min-rate-window 0s"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			checkServeLine(t, dir, tc.args, tc.wantErr, tc.wantLine, func(c *cli.Context) (string, error) {
				opts, err := serveOptions(c)
				return limitsLine(opts.Limits()), err
			})
		})
	}
}

// checkServeLine runs serve with args (after --repo dir) and line in
// place of its action: it must fail with an error containing wantErr, or
// if that is empty succeed with line returning wantLine.
func checkServeLine(t *testing.T, dir string, args []string, wantErr, wantLine string, line func(*cli.Context) (string, error)) {
	t.Helper()
	cmd := serveCommand()
	var got string
	cmd.Action = func(c *cli.Context) error {
		l, err := line(c)
		got = l
		return err
	}
	a := &cli.App{Name: "nardedup", Commands: []*cli.Command{cmd}}
	err := a.Run(append([]string{"nardedup", "serve", "--repo", dir}, args...))
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("error %v; want one containing %q", err, wantErr)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if got != wantLine {
		t.Errorf("startup line %q; want %q", got, wantLine)
	}
}
