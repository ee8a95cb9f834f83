package metrics

import (
	"github.com/nardedup/nardedup/proxy"
	"github.com/prometheus/client_golang/prometheus"
)

// proxyMetric is one value of proxy.Stats as a metric.
type proxyMetric struct {
	name, help string
	labels     prometheus.Labels
	gauge      bool
	get        func(proxy.Stats) int64
}

var proxyMetrics = []proxyMetric{
	{name: "nardedup_proxy_upstream_bytes_total", labels: prometheus.Labels{"kind": "manifest"},
		get: func(s proxy.Stats) int64 { return s.ManifestBytes }},
	{name: "nardedup_proxy_upstream_bytes_total", labels: prometheus.Labels{"kind": "frame"},
		get: func(s proxy.Stats) int64 { return s.FrameBytes }},
	{name: "nardedup_proxy_upstream_bytes_total", labels: prometheus.Labels{"kind": "passthrough"},
		get: func(s proxy.Stats) int64 { return s.PassedBytes }},
	{name: "nardedup_proxy_upstream_requests_total", help: "Requests of the read API sent to the upstream.",
		get: func(s proxy.Stats) int64 { return s.Requests }},
	{name: "nardedup_proxy_frames_shared_total", help: "Frames one request fetched for several NARs served at once.",
		get: func(s proxy.Stats) int64 { return s.FramesShared }},
	{name: "nardedup_proxy_served_bytes_total", help: "Bytes of NARs sent to clients.",
		get: func(s proxy.Stats) int64 { return s.ServedBytes }},
	{name: "nardedup_proxy_chunks_total", labels: prometheus.Labels{"from": "held"},
		get: func(s proxy.Stats) int64 { return s.ChunksHeld }},
	{name: "nardedup_proxy_chunks_total", labels: prometheus.Labels{"from": "fetched"},
		get: func(s proxy.Stats) int64 { return s.ChunksFetched }},
	{name: "nardedup_proxy_cache_evictions_total", help: "Chunks evicted from the cache to stay within its size.",
		get: func(s proxy.Stats) int64 { return s.EvictedChunks }},
	{name: "nardedup_proxy_cache_dropped_total", help: "Damaged chunk files the cache removed.",
		get: func(s proxy.Stats) int64 { return s.DroppedChunks }},
	{name: "nardedup_proxy_cache_chunks", help: "Chunks in the cache.", gauge: true,
		get: func(s proxy.Stats) int64 { return int64(s.CachedChunks) }},
	{name: "nardedup_proxy_cache_bytes", help: "Bytes of chunks in the cache.", gauge: true,
		get: func(s proxy.Stats) int64 { return s.CachedBytes }},
}

// proxyHelp is the help of the labelled metrics, by name.
var proxyHelp = map[string]string{
	"nardedup_proxy_upstream_bytes_total": "Bytes received from the upstream, by kind: manifests, frames, NAR files passed through.",
	"nardedup_proxy_chunks_total":         "Chunks of the NARs served, by where they came from: the cache (held) or fetched frames.",
}

// RegisterProxy registers the counters of a local substituter (nardedup
// proxy), read from stats (proxy.Proxy.Stats) at each scrape: the bytes
// it received from its upstream by kind, the bytes it served, and its
// chunk cache.
func RegisterProxy(reg prometheus.Registerer, stats func() proxy.Stats) error {
	var cs []prometheus.Collector
	for _, m := range proxyMetrics {
		help := m.help
		if help == "" {
			help = proxyHelp[m.name]
		}
		value := func() float64 { return float64(m.get(stats())) }
		if m.gauge {
			cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: m.name, Help: help, ConstLabels: m.labels}, value))
		} else {
			cs = append(cs, prometheus.NewCounterFunc(prometheus.CounterOpts{Name: m.name, Help: help, ConstLabels: m.labels}, value))
		}
	}
	return register(reg, cs...)
}
