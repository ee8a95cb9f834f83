package metrics

import (
	"github.com/nardedup/nardedup/mirror"
	"github.com/prometheus/client_golang/prometheus"
)

// RegisterMirror registers the counters of a mirror, read from stats
// (mirror.Mirror.Stats) at each scrape.
func RegisterMirror(reg prometheus.Registerer, stats func() mirror.Stats) error {
	counter := func(name, help string, get func(mirror.Stats) int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(get(stats())) })
	}
	return register(reg,
		counter("nardedup_mirror_narinfos_seen_total", "Narinfos of the remote the mirror looked at.",
			func(s mirror.Stats) int64 { return s.Seen }),
		counter("nardedup_mirror_narinfos_written_total", "Narinfos the mirror wrote, their NARs checked.",
			func(s mirror.Stats) int64 { return s.Mirrored }),
		counter("nardedup_mirror_nars_total", "NARs the mirror fetched and stored.",
			func(s mirror.Stats) int64 { return s.NARs }),
		counter("nardedup_mirror_nar_bytes_total", "NarSize of the NARs the mirror fetched.",
			func(s mirror.Stats) int64 { return s.NarBytes }),
		counter("nardedup_mirror_failures_total", "Store paths the mirror failed to mirror.",
			func(s mirror.Stats) int64 { return s.Failed }),
		counter("nardedup_mirror_received_bytes_total", "Bytes of answers received from the remote.",
			func(s mirror.Stats) int64 { return s.Remote.BytesReceived }),
		counter("nardedup_mirror_requests_total", "Requests sent to the remote.",
			func(s mirror.Stats) int64 { return s.Remote.Requests }),
		counter("nardedup_mirror_frames_total", "Frames fetched from the remote.",
			func(s mirror.Stats) int64 { return s.Remote.Frames }),
		counter("nardedup_mirror_chunks_held_total", "Chunks of fetched NARs the mirror held already.",
			func(s mirror.Stats) int64 { return s.Remote.ChunksHeld }),
	)
}
