package bench

import "github.com/nardedup/nardedup/cost"

// Measured is what the report measured for pricing with package cost: the
// repository after every generation against the source's distinct nar.xz
// files, and the backend reads per NAR of the serve run with one client,
// cold and warm, when it counted them.
func (r *Report) Measured() cost.Measured {
	t := r.Totals
	m := cost.Measured{NARs: int64(t.Paths), NarBytes: t.NarBytes, SourceBytes: t.XZBytes,
		SourceObjects: int64(t.Paths + t.UniqueNARs), StoredBytes: t.Stored, StoredObjects: t.ObjectCount}
	if r.Speed == nil {
		return m
	}
	cold, warm := serveRow(r.Speed.Serve, "nardedup"), serveRow(r.Speed.Serve, "nardedup-warm")
	if cold != nil && warm != nil && cold.BackendReads > 0 && cold.Requests > 0 && warm.Requests > 0 {
		m.GetsMeasured = true
		m.ColdGets = float64(cold.BackendReads) / float64(cold.Requests)
		m.WarmGets = float64(warm.BackendReads) / float64(warm.Requests)
	}
	return m
}

// serveRow returns the first row of server, the fewest clients.
func serveRow(rows []ServeRow, server string) *ServeRow {
	for i := range rows {
		if rows[i].Server == server {
			return &rows[i]
		}
	}
	return nil
}
