package metrics

import (
	"sync"
	"time"

	"github.com/nardedup/nardedup/ingest"
	"github.com/prometheus/client_golang/prometheus"
)

// Ingest exports the counters of an ingest run, as of the last Update.
type Ingest struct {
	mu sync.Mutex
	s  ingest.Stats
}

var (
	ingestPathsDesc = prometheus.NewDesc("nardedup_ingest_store_paths_total",
		"Store paths the ingest finished, by result: stored (a new NAR), linked (to a NAR already stored), present (already in the repository), failed, other_shard.",
		[]string{"result"}, nil)
	ingestNarBytesDesc = prometheus.NewDesc("nardedup_ingest_nar_bytes_total",
		"Uncompressed NAR bytes ingested.", nil, nil)
	ingestSourceBytesDesc = prometheus.NewDesc("nardedup_ingest_source_bytes_total",
		"Compressed file bytes read from the source cache.", nil, nil)
	ingestStoredBytesDesc = prometheus.NewDesc("nardedup_ingest_stored_bytes_total",
		"Bytes the ingest added to the repository.", nil, nil)
	ingestChunksDesc = prometheus.NewDesc("nardedup_ingest_chunks_total",
		"Chunks of the ingested NARs, by state: new (stored) or duplicate (already stored, deduplicated).",
		[]string{"state"}, nil)
)

// NewIngest returns an Ingest registered on reg.
func NewIngest(reg prometheus.Registerer) (*Ingest, error) {
	m := &Ingest{}
	return m, reg.Register(m)
}

// Update records the counters of s, a snapshot of the run (as
// ingest.Options.Progress passes).
func (m *Ingest) Update(s ingest.Stats) {
	s.Failures = nil
	m.mu.Lock()
	m.s = s
	m.mu.Unlock()
}

// Describe implements prometheus.Collector.
func (m *Ingest) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{ingestPathsDesc, ingestNarBytesDesc, ingestSourceBytesDesc, ingestStoredBytesDesc, ingestChunksDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *Ingest) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	s := m.s
	m.mu.Unlock()
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for _, p := range []struct {
		result string
		n      int
	}{{"stored", s.NARs}, {"linked", s.Linked}, {"present", s.Skipped}, {"failed", s.Failed}, {"other_shard", s.OtherShard}} {
		counter(ingestPathsDesc, int64(p.n), p.result)
	}
	counter(ingestNarBytesDesc, s.NarBytes)
	counter(ingestSourceBytesDesc, s.SourceBytes)
	counter(ingestStoredBytesDesc, s.StoredBytes)
	counter(ingestChunksDesc, int64(s.NewChunks), "new")
	counter(ingestChunksDesc, int64(s.Chunks-s.NewChunks), "duplicate")
}

// Follow exports the passes of a following ingest (ingest.Follow).
type Follow struct {
	mu         sync.Mutex
	passes     int64
	failed     int64
	newPaths   int64
	lastPass   time.Time
	lastLength time.Duration
}

var (
	followPassesDesc = prometheus.NewDesc("nardedup_ingest_follow_passes_total",
		"Passes of ingest --follow, by result: ok or failed.", []string{"result"}, nil)
	followNewDesc = prometheus.NewDesc("nardedup_ingest_follow_new_store_paths_total",
		"Store paths that passes found new (past the cursor) and ingested.", nil, nil)
	followLastDesc = prometheus.NewDesc("nardedup_ingest_follow_last_pass_timestamp_seconds",
		"When the last pass of ingest --follow ended, in seconds since the epoch.", nil, nil)
	followLengthDesc = prometheus.NewDesc("nardedup_ingest_follow_last_pass_seconds",
		"How long the last pass of ingest --follow took.", nil, nil)
)

// NewFollow returns a Follow registered on reg.
func NewFollow(reg prometheus.Registerer) (*Follow, error) {
	m := &Follow{}
	return m, reg.Register(m)
}

// Pass records a pass.
func (m *Follow) Pass(p ingest.Pass) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.passes++
	if p.Err != nil {
		m.failed++
	}
	m.newPaths += int64(p.New)
	m.lastPass = p.Start.Add(p.Elapsed)
	m.lastLength = p.Elapsed
}

// Describe implements prometheus.Collector.
func (m *Follow) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{followPassesDesc, followNewDesc, followLastDesc, followLengthDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *Follow) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(followPassesDesc, prometheus.CounterValue, float64(m.passes-m.failed), "ok")
	ch <- prometheus.MustNewConstMetric(followPassesDesc, prometheus.CounterValue, float64(m.failed), "failed")
	ch <- prometheus.MustNewConstMetric(followNewDesc, prometheus.CounterValue, float64(m.newPaths))
	if !m.lastPass.IsZero() {
		ch <- prometheus.MustNewConstMetric(followLastDesc, prometheus.GaugeValue, float64(m.lastPass.UnixNano())/1e9)
		ch <- prometheus.MustNewConstMetric(followLengthDesc, prometheus.GaugeValue, m.lastLength.Seconds())
	}
}
