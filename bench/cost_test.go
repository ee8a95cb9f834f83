package bench_test

import (
	"testing"

	"github.com/nardedup/nardedup/bench"
)

// TestMeasuredGets: the GETs per NAR come from the first cold and warm
// serve rows, when the run counted backend reads.
func TestMeasuredGets(t *testing.T) {
	r := &bench.Report{Totals: bench.Totals{Paths: 10, UniqueNARs: 8, XZBytes: 1000, Stored: 400, ObjectCount: 30},
		Speed: &bench.Speed{Serve: []bench.ServeRow{
			{Server: "nardedup", Clients: 1, Requests: 8, BackendReads: 36},
			{Server: "nardedup", Clients: 8, Requests: 8, BackendReads: 80},
			{Server: "nardedup-warm", Clients: 1, Requests: 8, BackendReads: 2},
		}}}
	m := r.Measured()
	if !m.GetsMeasured || m.ColdGets != 4.5 || m.WarmGets != 0.25 {
		t.Errorf("got measured %v, cold %v, warm %v; want true, 4.5, 0.25", m.GetsMeasured, m.ColdGets, m.WarmGets)
	}
	if m.SourceObjects != 18 || m.StoredObjects != 30 || m.SourceBytes != 1000 || m.NARs != 10 {
		t.Errorf("got %+v; want 18 source objects, 30 stored, 1000 source bytes, 10 NARs", m)
	}
	r.Speed.Serve[0].BackendReads = 0 // a report from before reads were counted
	if m := r.Measured(); m.GetsMeasured {
		t.Errorf("got GETs measured from a run without counts: %+v", m)
	}
}
