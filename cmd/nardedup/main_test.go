package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every flag of every command can also be set from the environment, and
// every command has help a new user can follow.
func TestFlagsHaveEnvVars(t *testing.T) {
	seen := make(map[string]string)
	for _, cmd := range app().Commands {
		if cmd.Usage == "" {
			t.Errorf("command %s has no usage line", cmd.Name)
		}
		for _, f := range cmd.Flags {
			name := f.Names()[0]
			ef, ok := f.(interface{ GetEnvVars() []string })
			if !ok || len(ef.GetEnvVars()) == 0 {
				t.Errorf("%s --%s: no environment variable", cmd.Name, name)
				continue
			}
			for _, v := range ef.GetEnvVars() {
				if !strings.HasPrefix(v, "NARDEDUP_") {
					t.Errorf("%s --%s: variable %s lacks the NARDEDUP_ prefix", cmd.Name, name, v)
				}
				if other, ok := seen[v]; ok && other != name {
					t.Errorf("%s --%s: variable %s already names --%s", cmd.Name, name, v, other)
				}
				seen[v] = name
			}
		}
	}
}

// A malformed --shard is refused before anything is opened.
func TestIngestRejectsBadShard(t *testing.T) {
	for _, shard := range []string{"4/4", "1", "-1/2", "a/b", "1/0"} {
		err := app().Run([]string{"nardedup", "ingest", "--repo", t.TempDir(), "--shard", shard, t.TempDir()})
		if err == nil || !strings.Contains(err.Error(), "--shard") || !strings.Contains(err.Error(), "K/N") {
			t.Errorf("--shard %s: %v; want an error naming --shard and K/N", shard, err)
		}
	}
}

// A bad --prices file or a negative traffic is refused, naming what is
// wrong, before the repository is opened.
func TestStatsRejectsBadCostFlags(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "prices.json")
	if err := os.WriteFile(bad, []byte(`{"prices": [{"name": "x", "currency": "USD", "egress_gb": -1}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--prices", bad}, bad + `: price table 1 ("x"): egress_gb is -1`},
		{[]string{"--prices", bad + ".none"}, "prices.json.none"},
		{[]string{"--nars-served-per-month", "-1"}, "--nars-served-per-month"},
	} {
		err := app().Run(append([]string{"nardedup", "stats", "--repo", t.TempDir(), "--cost"}, c.args...))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("stats %v: %v; want an error containing %q", c.args, err, c.want)
		}
	}
}
