package server

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// httpMetrics are the metrics Observe keeps:
//
//	nardedup_http_requests_total{route,code}
//	nardedup_http_request_duration_seconds{route}
//	nardedup_http_response_bytes_total{route}       body bytes sent (compressed for nar.zst)
//	nardedup_http_not_found_total{route}            404s: a narinfo's are cache misses
//	nardedup_http_requests_in_flight
//	nardedup_nar_stream_duration_seconds{compression}  NAR downloads answered 200 or 206, to their end
//	nardedup_nar_streams_aborted_total{compression}    of those, cut off before their end
//	nardedup_uploads_total{kind,result}             PUTs: kind nar, narinfo, ls, log,
//	                                                realisation or other; result ok
//	                                                (2xx), refused (4xx) or error
//	nardedup_upload_bytes_total{kind}               request body bytes received
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	bytes    *prometheus.CounterVec
	notFound *prometheus.CounterVec
	inFlight prometheus.Gauge
	streams  *prometheus.HistogramVec
	aborted  *prometheus.CounterVec
	uploads  *prometheus.CounterVec
	upBytes  *prometheus.CounterVec
}

// uploadKinds are the kind label values of the upload metrics.
var uploadKinds = []string{"nar", routeNarInfo, routeListing, routeLog, routeRealis, routeOther}

// streamBuckets span a small NAR on a local network to a large one over
// a slow link.
var streamBuckets = prometheus.ExponentialBuckets(0.01, 4, 10)

func newHTTPMetrics(reg prometheus.Registerer) (*httpMetrics, error) {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nardedup_http_requests_total",
			Help: "HTTP requests answered, by route and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "nardedup_http_request_duration_seconds",
			Help:    "Time from a request's arrival to the end of its response, by route.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nardedup_http_response_bytes_total",
			Help: "Response body bytes sent, by route (compressed bytes for nar.zst).",
		}, []string{"route"}),
		notFound: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nardedup_http_not_found_total",
			Help: "Requests answered 404, by route; a narinfo's is a cache miss.",
		}, []string{"route"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "nardedup_http_requests_in_flight",
			Help: "HTTP requests being answered.",
		}),
		streams: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "nardedup_nar_stream_duration_seconds",
			Help:    "Duration of the NAR downloads answered 200 or 206 (a range), by compression.",
			Buckets: streamBuckets,
		}, []string{"compression"}),
		aborted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nardedup_nar_streams_aborted_total",
			Help: "NAR downloads cut off before their end (client gone, timeout or read error), by compression.",
		}, []string{"compression"}),
		uploads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nardedup_uploads_total",
			Help: "Uploads (PUT requests), by kind and result (ok, refused: 4xx, error: 5xx or none).",
		}, []string{"kind", "result"}),
		upBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nardedup_upload_bytes_total",
			Help: "Request body bytes of uploads received, by kind.",
		}, []string{"kind"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.bytes, m.notFound, m.inFlight, m.streams, m.aborted, m.uploads, m.upBytes} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, route := range routes {
		m.bytes.WithLabelValues(route)
		m.notFound.WithLabelValues(route)
	}
	for _, kind := range uploadKinds {
		m.upBytes.WithLabelValues(kind)
		for _, result := range []string{"ok", "refused", "error"} {
			m.uploads.WithLabelValues(kind, result)
		}
	}
	for _, comp := range []string{"none", "zstd"} {
		m.aborted.WithLabelValues(comp)
	}
	return m, nil
}

func (m *httpMetrics) observe(r *http.Request, route string, status int, bytes int64, d time.Duration, aborted bool) {
	m.inFlight.Dec()
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
	m.bytes.WithLabelValues(route).Add(float64(bytes))
	if status == http.StatusNotFound {
		m.notFound.WithLabelValues(route).Inc()
	}
	stream := status == http.StatusOK || status == http.StatusPartialContent
	if (route != routeNAR && route != routeNARZstd) || r.Method != http.MethodGet || !stream {
		return
	}
	comp := "none"
	if route == routeNARZstd {
		comp = "zstd"
	}
	m.streams.WithLabelValues(comp).Observe(d.Seconds())
	if aborted {
		m.aborted.WithLabelValues(comp).Inc()
	}
}

// observeUpload counts one PUT to p answered with status, with n body
// bytes read.
func (m *httpMetrics) observeUpload(p string, status int, n int64) {
	kind := routeOf(p)
	switch {
	case strings.HasPrefix(p, "/nar/"):
		kind = "nar"
	case !slices.Contains(uploadKinds, kind):
		kind = routeOther
	}
	result := "error"
	switch {
	case status >= 200 && status < 300:
		result = "ok"
	case status >= 400 && status < 500:
		result = "refused"
	}
	m.uploads.WithLabelValues(kind, result).Inc()
	m.upBytes.WithLabelValues(kind).Add(float64(n))
}
