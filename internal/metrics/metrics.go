package metrics

import (
	"errors"

	"github.com/nardedup/nardedup/chunkstore/backend/cache"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// NewRegistry returns a registry holding the Go runtime's collector and
// the process's (CPU, memory, open files).
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// register registers every collector, and returns their errors joined.
func register(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	var errs []error
	for _, c := range cs {
		errs = append(errs, reg.Register(c))
	}
	return errors.Join(errs...)
}

// RegisterFrameCache registers the counters of a chunk store's frame
// cache, read from stats (chunkstore.Store.FrameCacheStats) at each
// scrape.
func RegisterFrameCache(reg prometheus.Registerer, stats func() (hits, misses, bytes int64)) error {
	field := func(i int) func() float64 {
		return func() float64 {
			h, m, b := stats()
			return float64([]int64{h, m, b}[i])
		}
	}
	return register(reg,
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "nardedup_frame_cache_hits_total",
			Help: "Frame reads the in-memory frame cache answered."}, field(0)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "nardedup_frame_cache_misses_total",
			Help: "Frame reads the in-memory frame cache decoded."}, field(1)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "nardedup_frame_cache_bytes",
			Help: "Decoded frame bytes the in-memory frame cache holds."}, field(2)),
	)
}

// RegisterDiskCache registers the counters of a local disk cache of the
// backend (--cache-dir), read from stats (cache.Backend.Stats) at each
// scrape.
func RegisterDiskCache(reg prometheus.Registerer, stats func() cache.Stats) error {
	f := func(get func(cache.Stats) int64) func() float64 {
		return func() float64 { return float64(get(stats())) }
	}
	return register(reg,
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "nardedup_disk_cache_hits_total",
			Help: "Reads the local disk cache answered."}, f(func(s cache.Stats) int64 { return s.Hits })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "nardedup_disk_cache_misses_total",
			Help: "Reads the local disk cache passed to the repository."}, f(func(s cache.Stats) int64 { return s.Misses })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "nardedup_disk_cache_evictions_total",
			Help: "Entries the local disk cache evicted to stay within its size."}, f(func(s cache.Stats) int64 { return s.Evictions })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "nardedup_disk_cache_dropped_total",
			Help: "Damaged entries the local disk cache removed."}, f(func(s cache.Stats) int64 { return s.Dropped })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "nardedup_disk_cache_entries",
			Help: "Entries in the local disk cache."}, f(func(s cache.Stats) int64 { return int64(s.Entries) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "nardedup_disk_cache_bytes",
			Help: "Bytes in the local disk cache."}, f(func(s cache.Stats) int64 { return s.Bytes })),
	)
}
