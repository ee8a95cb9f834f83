package metrics

import (
	"sync"
	"time"

	"github.com/nardedup/nardedup/gc"
	"github.com/prometheus/client_golang/prometheus"
)

// GCPhases are the phases of a collection, as gc.Options.Phase names them.
var GCPhases = []string{"list", "mark", "condemn", "repack", "recompress", "wait", "remark", "delete"}

// GC exports the progress of a collection: its current phase, the time
// spent in each, and at the end what it deleted.
type GC struct {
	mu      sync.Mutex
	phase   string // "" before the first phase and after Done
	since   time.Time
	spent   map[string]time.Duration
	rep     gc.Report
	nowFunc func() time.Time
}

var (
	gcPhaseDesc = prometheus.NewDesc("nardedup_gc_phase",
		"1 for the phase the collection is in, 0 for the others.", []string{"phase"}, nil)
	gcPhaseSecondsDesc = prometheus.NewDesc("nardedup_gc_phase_seconds_total",
		"Time the collection spent in each phase so far.", []string{"phase"}, nil)
	gcDeletedDesc = prometheus.NewDesc("nardedup_gc_deleted_objects_total",
		"Objects the collection deleted, by kind (packs, manifests, forward, names, uploads); counted when it ends.", []string{"kind"}, nil)
	gcFreedDesc = prometheus.NewDesc("nardedup_gc_freed_bytes_total",
		"Bytes of packs, forward records and upload records the collection deleted; counted when it ends.", nil, nil)
)

// NewGC returns a GC registered on reg.
func NewGC(reg prometheus.Registerer) (*GC, error) {
	m := &GC{spent: make(map[string]time.Duration), nowFunc: time.Now}
	return m, reg.Register(m)
}

// Phase records that the collection entered phase; it is gc.Options.Phase.
func (m *GC) Phase(phase string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.enter(phase)
}

// enter ends the current phase and starts phase ("" for none).
func (m *GC) enter(phase string) {
	now := m.nowFunc()
	if m.phase != "" {
		m.spent[m.phase] += now.Sub(m.since)
	}
	m.phase, m.since = phase, now
}

// Done records the end of the collection and its report (nil if it
// failed before it had one).
func (m *GC) Done(rep *gc.Report) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.enter("")
	if rep != nil {
		m.rep = *rep
	}
}

// Describe implements prometheus.Collector.
func (m *GC) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{gcPhaseDesc, gcPhaseSecondsDesc, gcDeletedDesc, gcFreedDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *GC) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.nowFunc()
	for _, p := range GCPhases {
		in, spent := 0.0, m.spent[p]
		if p == m.phase {
			in, spent = 1, spent+now.Sub(m.since)
		}
		ch <- prometheus.MustNewConstMetric(gcPhaseDesc, prometheus.GaugeValue, in, p)
		ch <- prometheus.MustNewConstMetric(gcPhaseSecondsDesc, prometheus.CounterValue, spent.Seconds(), p)
	}
	ch <- prometheus.MustNewConstMetric(gcDeletedDesc, prometheus.CounterValue, float64(m.rep.DeletedPacks), "packs")
	ch <- prometheus.MustNewConstMetric(gcDeletedDesc, prometheus.CounterValue, float64(m.rep.DeletedManifests), "manifests")
	ch <- prometheus.MustNewConstMetric(gcDeletedDesc, prometheus.CounterValue, float64(m.rep.DeletedForwardRecords), "forward")
	ch <- prometheus.MustNewConstMetric(gcDeletedDesc, prometheus.CounterValue, float64(m.rep.DeletedNames), "names")
	ch <- prometheus.MustNewConstMetric(gcDeletedDesc, prometheus.CounterValue, float64(m.rep.DeletedUploads), "uploads")
	ch <- prometheus.MustNewConstMetric(gcFreedDesc, prometheus.CounterValue,
		float64(m.rep.DeletedPackBytes+m.rep.DeletedForwardBytes+m.rep.DeletedUploadBytes))
}
