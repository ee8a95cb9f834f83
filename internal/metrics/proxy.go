package metrics

import (
	"github.com/nardedup/nardedup/proxy"
	"github.com/prometheus/client_golang/prometheus"
)

// RegisterProxy registers the counters of a local substituter (nardedup
// proxy), read from stats (proxy.Proxy.Stats) at each scrape: the bytes
// it received from its upstream by kind, the bytes it served, and its
// chunk cache.
func RegisterProxy(reg prometheus.Registerer, stats func() proxy.Stats) error {
	f := func(get func(proxy.Stats) int64) func() float64 {
		return func() float64 { return float64(get(stats())) }
	}
	upstream := func(kind string, get func(proxy.Stats) int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "nardedup_proxy_upstream_bytes_total",
			Help:        "Bytes received from the upstream, by kind: manifests, frames, NAR files passed through.",
			ConstLabels: prometheus.Labels{"kind": kind}}, f(get))
	}
	chunks := func(from string, get func(proxy.Stats) int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "nardedup_proxy_chunks_total",
			Help:        "Chunks of the NARs served, by where they came from: the cache (held) or fetched frames.",
			ConstLabels: prometheus.Labels{"from": from}}, f(get))
	}
	return register(reg,
		upstream("manifest", func(s proxy.Stats) int64 { return s.ManifestBytes }),
		upstream("frame", func(s proxy.Stats) int64 { return s.FrameBytes }),
		upstream("passthrough", func(s proxy.Stats) int64 { return s.PassedBytes }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "nardedup_proxy_upstream_requests_total",
			Help: "Requests of the read API sent to the upstream."}, f(func(s proxy.Stats) int64 { return s.Requests })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "nardedup_proxy_frames_shared_total",
			Help: "Frames one request fetched for several NARs served at once."}, f(func(s proxy.Stats) int64 { return s.FramesShared })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "nardedup_proxy_served_bytes_total",
			Help: "Bytes of NARs sent to clients."}, f(func(s proxy.Stats) int64 { return s.ServedBytes })),
		chunks("held", func(s proxy.Stats) int64 { return s.ChunksHeld }),
		chunks("fetched", func(s proxy.Stats) int64 { return s.ChunksFetched }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "nardedup_proxy_cache_evictions_total",
			Help: "Chunks evicted from the cache to stay within its size."}, f(func(s proxy.Stats) int64 { return s.EvictedChunks })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "nardedup_proxy_cache_dropped_total",
			Help: "Damaged chunk files the cache removed."}, f(func(s proxy.Stats) int64 { return s.DroppedChunks })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "nardedup_proxy_cache_chunks",
			Help: "Chunks in the cache."}, f(func(s proxy.Stats) int64 { return int64(s.CachedChunks) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "nardedup_proxy_cache_bytes",
			Help: "Bytes of chunks in the cache."}, f(func(s proxy.Stats) int64 { return s.CachedBytes })),
	)
}
