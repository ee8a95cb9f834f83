package ingest_test

import (
	"context"
	"path"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/ingest"
	"github.com/nardedup/nardedup/internal/nixtest"
	"github.com/nardedup/nardedup/source"
)

func TestParseShard(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ingest.Shard
		ok   bool
	}{
		{"0/1", ingest.Shard{K: 0, N: 1}, true},
		{"0/4", ingest.Shard{K: 0, N: 4}, true},
		{"3/4", ingest.Shard{K: 3, N: 4}, true},
		{"07/10", ingest.Shard{K: 7, N: 10}, true},
		{"4/4", ingest.Shard{}, false},
		{"0/0", ingest.Shard{}, false},
		{"-1/4", ingest.Shard{}, false},
		{"+1/4", ingest.Shard{}, false},
		{"1 /4", ingest.Shard{}, false},
		{"1/4/5", ingest.Shard{}, false},
		{"1", ingest.Shard{}, false},
		{"/4", ingest.Shard{}, false},
		{"1/", ingest.Shard{}, false},
		{"", ingest.Shard{}, false},
		{"a/b", ingest.Shard{}, false},
		{"1/99999999999999999999", ingest.Shard{}, false},
	} {
		got, err := ingest.ParseShard(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseShard(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// TestShardTakesStable pins the hash, which every release must keep: a
// change would move store paths between the processes of a resumed run.
// The shards are FNV-1a (32 bits) of the package name modulo N, computed
// apart from Go.
func TestShardTakesStable(t *testing.T) {
	for _, tc := range []struct {
		name   string
		k4, k7 int // the shard of 4 and of 7
	}{
		{"hello-2.12.1", 3, 2}, // FNV-1a("hello") = 0x4f9f2cab
		{"hello-2.12.1-man", 3, 2},
		{"glibc-2.38-44", 2, 5},              // 0x9347fe02
		{"python3.11-requests-2.31.0", 1, 4}, // 0xb508710d
		{"coreutils-9.4", 3, 6},              // 0x4a02fe7b
	} {
		for _, n := range []int{4, 7} {
			want := tc.k4
			if n == 7 {
				want = tc.k7
			}
			for k := range n {
				if got := (ingest.Shard{K: k, N: n}).Takes(tc.name); got != (k == want) {
					t.Errorf("shard %d/%d takes %s: %v, want it in shard %d", k, n, tc.name, got, want)
				}
			}
		}
	}
	for _, s := range []ingest.Shard{{}, {K: 0, N: 1}} {
		if !s.Takes("anything-1.0") {
			t.Errorf("shard %v does not take everything", s)
		}
	}
}

// TestShardedRuns ingests the sample in three shards, one after the
// other, into one repository: each path is stored by exactly one, the
// versions of a package by the same one, and the repository ends up with
// every narinfo as one unsharded run would.
func TestShardedRuns(t *testing.T) {
	dir := sampleBucket(t)
	nis := narinfos(t, dir)
	r := newRepo(t)
	src, err := source.Open(dir)
	must(t, err)
	const n = 3
	stored := make(map[string]int) // hash -> the shard that stored it
	shards := make(map[int]bool)
	for k := range n {
		shard := ingest.Shard{K: k, N: n}
		st, err := ingest.Run(context.Background(), src, r.rp, ingest.Options{Shard: shard})
		if err != nil || st.Failed != 0 {
			t.Fatalf("shard %d: %v %v", k, err, st.Failures)
		}
		if st.Seen != len(nis) || st.Skipped != 0 || st.OtherShard+st.Committed+st.Linked != len(nis) {
			t.Errorf("shard %d: seen %d, other shard %d, skipped %d, committed %d, linked %d; want %d in all",
				k, st.Seen, st.OtherShard, st.Skipped, st.Committed, st.Linked, len(nis))
		}
		for h, ni := range nis {
			if _, ok := stored[h]; ok {
				continue
			}
			if has, err := r.st.HasNarInfo(context.Background(), h); err != nil || !has {
				continue
			}
			stored[h] = k
			shards[k] = true
			_, name, _ := strings.Cut(path.Base(nixtest.Field(ni, "StorePath")), "-")
			if !shard.Takes(name) {
				t.Errorf("shard %v stored %s, of another shard", shard, name)
			}
		}
	}
	if len(stored) != len(nis) || len(shards) < 2 {
		t.Errorf("the shards stored %d of %d store paths, in %d shards", len(stored), len(nis), len(shards))
	}
	checkNarInfosIdentical(t, r, nis)
	// A rerun of a shard finds its own paths present and the others not its own.
	st, err := ingest.Run(context.Background(), src, r.rp, ingest.Options{Shard: ingest.Shard{K: 1, N: n}})
	if err != nil || st.NARs != 0 || st.Skipped+st.OtherShard != len(nis) {
		t.Errorf("rerun of shard 1: %v; %+v", err, st)
	}
	if _, err := ingest.Run(context.Background(), src, r.rp, ingest.Options{Shard: ingest.Shard{K: 3, N: n}}); err == nil {
		t.Errorf("shard 3/3 ran")
	}
}
