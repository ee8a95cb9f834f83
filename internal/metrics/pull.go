package metrics

import (
	"github.com/nardedup/nardedup/server"
	"github.com/prometheus/client_golang/prometheus"
)

var (
	pullRequestsDesc = prometheus.NewDesc("nardedup_upstream_requests_total",
		"Requests of a pull-through server to its upstream caches, by upstream, object (narinfo, nar) and result (narinfo: hit, miss, refused, error; nar: ok, failed).",
		[]string{"upstream", "object", "result"}, nil)
	pullNARsDesc = prometheus.NewDesc("nardedup_pull_nars_total",
		"NARs pulled from upstream caches, checked and stored.", nil, nil)
	pullBytesDesc = prometheus.NewDesc("nardedup_pull_bytes_total",
		"NAR file bytes read from upstream caches.", nil, nil)
	pullHashFailuresDesc = prometheus.NewDesc("nardedup_pull_hash_failures_total",
		"Pulled NARs that did not match their narinfo (NarHash, NarSize, FileHash or FileSize): not stored.", nil, nil)
)

// pull exports the counters of a pull-through server.
type pull struct{ stats func() server.PullStats }

// RegisterPull registers the counters of a pull-through server, read
// from stats (server.Server.PullStats) at each scrape.
func RegisterPull(reg prometheus.Registerer, stats func() server.PullStats) error {
	return register(reg, pull{stats})
}

// Describe implements prometheus.Collector.
func (m pull) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{pullRequestsDesc, pullNARsDesc, pullBytesDesc, pullHashFailuresDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m pull) Collect(ch chan<- prometheus.Metric) {
	s := m.stats()
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for k, v := range s.Requests {
		counter(pullRequestsDesc, v, k.Upstream, k.Object, k.Result)
	}
	counter(pullNARsDesc, s.NARs)
	counter(pullBytesDesc, s.Bytes)
	counter(pullHashFailuresDesc, s.HashFailures)
}
