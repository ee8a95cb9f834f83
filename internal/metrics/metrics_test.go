package metrics

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nardedup/nardedup/chunkstore/backend/cache"
	"github.com/nardedup/nardedup/gc"
	"github.com/nardedup/nardedup/ingest"
	"github.com/nardedup/nardedup/proxy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestIngest(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewIngest(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.Update(ingest.Stats{Seen: 12, NARs: 5, Linked: 2, Skipped: 3, Failed: 1, OtherShard: 1,
		NarBytes: 1000, SourceBytes: 400, StoredBytes: 300, Chunks: 40, NewChunks: 15})
	want := `
# HELP nardedup_ingest_chunks_total Chunks of the ingested NARs, by state: new (stored) or duplicate (already stored, deduplicated).
# TYPE nardedup_ingest_chunks_total counter
nardedup_ingest_chunks_total{state="duplicate"} 25
nardedup_ingest_chunks_total{state="new"} 15
# HELP nardedup_ingest_nar_bytes_total Uncompressed NAR bytes ingested.
# TYPE nardedup_ingest_nar_bytes_total counter
nardedup_ingest_nar_bytes_total 1000
# HELP nardedup_ingest_source_bytes_total Compressed file bytes read from the source cache.
# TYPE nardedup_ingest_source_bytes_total counter
nardedup_ingest_source_bytes_total 400
# HELP nardedup_ingest_stored_bytes_total Bytes the ingest added to the repository.
# TYPE nardedup_ingest_stored_bytes_total counter
nardedup_ingest_stored_bytes_total 300
# HELP nardedup_ingest_store_paths_total Store paths the ingest finished, by result: stored (a new NAR), linked (to a NAR already stored), present (already in the repository), failed, other_shard.
# TYPE nardedup_ingest_store_paths_total counter
nardedup_ingest_store_paths_total{result="failed"} 1
nardedup_ingest_store_paths_total{result="linked"} 2
nardedup_ingest_store_paths_total{result="other_shard"} 1
nardedup_ingest_store_paths_total{result="present"} 3
nardedup_ingest_store_paths_total{result="stored"} 5
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

func TestFollow(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewFollow(reg)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Unix(1700000000, 0)
	m.Pass(ingest.Pass{N: 1, Start: start, New: 7, Elapsed: 2 * time.Second})
	m.Pass(ingest.Pass{N: 2, Start: start.Add(time.Minute), New: 0, Elapsed: time.Second / 2, Err: errTest})
	want := `
# HELP nardedup_ingest_follow_last_pass_seconds How long the last pass of ingest --follow took.
# TYPE nardedup_ingest_follow_last_pass_seconds gauge
nardedup_ingest_follow_last_pass_seconds 0.5
# HELP nardedup_ingest_follow_last_pass_timestamp_seconds When the last pass of ingest --follow ended, in seconds since the epoch.
# TYPE nardedup_ingest_follow_last_pass_timestamp_seconds gauge
nardedup_ingest_follow_last_pass_timestamp_seconds 1.7000000605e+09
# HELP nardedup_ingest_follow_new_store_paths_total Store paths that passes found new (past the cursor) and ingested.
# TYPE nardedup_ingest_follow_new_store_paths_total counter
nardedup_ingest_follow_new_store_paths_total 7
# HELP nardedup_ingest_follow_passes_total Passes of ingest --follow, by result: ok or failed.
# TYPE nardedup_ingest_follow_passes_total counter
nardedup_ingest_follow_passes_total{result="failed"} 1
nardedup_ingest_follow_passes_total{result="ok"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

var errTest = errors.New("test")

func TestGC(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewGC(reg)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1000, 0)
	m.nowFunc = func() time.Time { return now }
	m.Phase("list")
	now = now.Add(2 * time.Second)
	m.Phase("mark")
	now = now.Add(3 * time.Second)
	seconds := func(phase string) float64 {
		t.Helper()
		return gathered(t, reg, "nardedup_gc_phase_seconds_total", phase)
	}
	if got := gathered(t, reg, "nardedup_gc_phase", "mark"); got != 1 {
		t.Errorf("phase mark while marking: got %v; want 1", got)
	}
	if got := gathered(t, reg, "nardedup_gc_phase", "list"); got != 0 {
		t.Errorf("phase list while marking: got %v; want 0", got)
	}
	if got := seconds("list"); got != 2 {
		t.Errorf("seconds listing: got %v; want 2", got)
	}
	if got := seconds("mark"); got != 3 {
		t.Errorf("seconds marking so far: got %v; want 3", got)
	}
	m.Phase("list")
	now = now.Add(time.Second)
	m.Done(&gc.Report{DeletedPacks: 4, DeletedPackBytes: 4096, DeletedManifests: 7,
		DeletedForwardRecords: 3, DeletedForwardBytes: 300, DeletedNames: 2, DeletedUploads: 1, DeletedUploadBytes: 100})
	now = now.Add(time.Hour)
	for phase, want := range map[string]float64{"list": 3, "mark": 3, "delete": 0} {
		if got := seconds(phase); got != want {
			t.Errorf("seconds in %s after the end: got %v; want %v", phase, got, want)
		}
		if got := gathered(t, reg, "nardedup_gc_phase", phase); got != 0 {
			t.Errorf("phase %s after the end: got %v; want 0", phase, got)
		}
	}
	want := `
# HELP nardedup_gc_deleted_objects_total Objects the collection deleted, by kind (packs, manifests, forward, names, uploads); counted when it ends.
# TYPE nardedup_gc_deleted_objects_total counter
nardedup_gc_deleted_objects_total{kind="forward"} 3
nardedup_gc_deleted_objects_total{kind="manifests"} 7
nardedup_gc_deleted_objects_total{kind="names"} 2
nardedup_gc_deleted_objects_total{kind="packs"} 4
nardedup_gc_deleted_objects_total{kind="uploads"} 1
# HELP nardedup_gc_freed_bytes_total Bytes of packs, forward records and upload records the collection deleted; counted when it ends.
# TYPE nardedup_gc_freed_bytes_total counter
nardedup_gc_freed_bytes_total 4496
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "nardedup_gc_deleted_objects_total", "nardedup_gc_freed_bytes_total"); err != nil {
		t.Error(err)
	}
}

func TestCaches(t *testing.T) {
	reg := prometheus.NewRegistry()
	hits := int64(0)
	if err := RegisterFrameCache(reg, func() (int64, int64, int64) { return hits, 2, 3 << 20 }); err != nil {
		t.Fatal(err)
	}
	if err := RegisterDiskCache(reg, func() cache.Stats {
		return cache.Stats{Hits: 10, Misses: 4, Evictions: 1, Dropped: 0, Entries: 9, Bytes: 1 << 30}
	}); err != nil {
		t.Fatal(err)
	}
	hits = 7 // read at each scrape
	for name, want := range map[string]float64{
		"nardedup_frame_cache_hits_total": 7, "nardedup_frame_cache_misses_total": 2, "nardedup_frame_cache_bytes": 3 << 20,
		"nardedup_disk_cache_hits_total": 10, "nardedup_disk_cache_misses_total": 4, "nardedup_disk_cache_evictions_total": 1,
		"nardedup_disk_cache_entries": 9, "nardedup_disk_cache_bytes": 1 << 30,
	} {
		if got := gathered(t, reg, name, ""); got != want {
			t.Errorf("%s: got %v; want %v", name, got, want)
		}
	}
	if err := RegisterFrameCache(reg, func() (int64, int64, int64) { return 0, 0, 0 }); err == nil {
		t.Error("registering the frame cache twice: no error")
	}
}

// gathered returns the value of the series name whose one label is label
// ("": the series without labels).
func gathered(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if (label == "" && len(m.GetLabel()) == 0) || (len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == label) {
				return m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no series %s{%q}", name, label)
	return 0
}

// TestRegisterProxy exports a proxy's bytes by kind.
func TestRegisterProxy(t *testing.T) {
	reg := prometheus.NewRegistry()
	st := proxy.Stats{PassedBytes: 7, ServedBytes: 9}
	st.ManifestBytes, st.FrameBytes = 3, 5
	if err := RegisterProxy(reg, func() proxy.Stats { return st }); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP nardedup_proxy_upstream_bytes_total Bytes received from the upstream, by kind: manifests, frames, NAR files passed through.
# TYPE nardedup_proxy_upstream_bytes_total counter
nardedup_proxy_upstream_bytes_total{kind="frame"} 5
nardedup_proxy_upstream_bytes_total{kind="manifest"} 3
nardedup_proxy_upstream_bytes_total{kind="passthrough"} 7
# HELP nardedup_proxy_served_bytes_total Bytes of NARs sent to clients.
# TYPE nardedup_proxy_served_bytes_total counter
nardedup_proxy_served_bytes_total 9
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"nardedup_proxy_upstream_bytes_total", "nardedup_proxy_served_bytes_total"); err != nil {
		t.Fatal(err)
	}
}
