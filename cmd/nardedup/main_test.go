package main

import (
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
