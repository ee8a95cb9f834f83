package metrics

import (
	"strings"
	"testing"

	"github.com/nardedup/nardedup/server"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestPull(t *testing.T) {
	reg := prometheus.NewRegistry()
	stats := server.PullStats{NARs: 3, Bytes: 4096, HashFailures: 1, Requests: map[server.UpstreamRequest]int64{
		{Upstream: "https://cache.example/", Object: "narinfo", Result: "hit"}:  4,
		{Upstream: "https://cache.example/", Object: "narinfo", Result: "miss"}: 2,
		{Upstream: "https://cache.example/", Object: "nar", Result: "ok"}:       3,
	}}
	if err := RegisterPull(reg, func() server.PullStats { return stats }); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP nardedup_pull_bytes_total NAR file bytes read from upstream caches.
# TYPE nardedup_pull_bytes_total counter
nardedup_pull_bytes_total 4096
# HELP nardedup_pull_hash_failures_total Pulled NARs that did not match their narinfo (NarHash, NarSize, FileHash or FileSize): not stored.
# TYPE nardedup_pull_hash_failures_total counter
nardedup_pull_hash_failures_total 1
# HELP nardedup_pull_nars_total NARs pulled from upstream caches, checked and stored.
# TYPE nardedup_pull_nars_total counter
nardedup_pull_nars_total 3
# HELP nardedup_upstream_requests_total Requests of a pull-through server to its upstream caches, by upstream, object (narinfo, nar) and result (narinfo: hit, miss, refused, error; nar: ok, failed).
# TYPE nardedup_upstream_requests_total counter
nardedup_upstream_requests_total{object="nar",result="ok",upstream="https://cache.example/"} 3
nardedup_upstream_requests_total{object="narinfo",result="hit",upstream="https://cache.example/"} 4
nardedup_upstream_requests_total{object="narinfo",result="miss",upstream="https://cache.example/"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}
