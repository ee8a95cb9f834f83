package bench

import "fmt"

// Limit is one figure of nardedup set against the limit the machine
// allows for it, both measured in the same run: Ratio is Measured over
// Limit, and the goal is met when Ratio is at least Goal (AtLeast) or at
// most Goal.
type Limit struct {
	Figure   string  `json:"figure"`
	Limit    string  `json:"limit"` // what the limit is
	Unit     string  `json:"unit"`  // of Measured and Against: MB/s, CPU s or bytes
	Measured float64 `json:"measured"`
	Against  float64 `json:"limit_value"`
	Ratio    float64 `json:"ratio"`
	Goal     float64 `json:"goal"`
	AtLeast  bool    `json:"at_least,omitempty"`
}

// Met reports whether the ratio reaches the goal.
func (l Limit) Met() bool {
	if l.AtLeast {
		return l.Ratio >= l.Goal
	}
	return l.Ratio <= l.Goal
}

// The goals of the limits.
const (
	goalServeCold  = 0.8  // a server just started, of a static file server
	goalServeWarm  = 0.9  // a warm server, of a static file server
	goalIngestCPU  = 1.4  // ingest CPU, of xz -dc CPU over the same files
	goalColdXZSize = 0.95 // cold data, of the first generation's nar.xz
	limitClients   = 8    // the client count the serve limits are read at
)

// limits derives r.Limits from the figures r already holds, leaving out
// those the run did not measure.
func (r *Report) limits() {
	r.Limits = nil
	add := func(l Limit) {
		if l.Measured > 0 && l.Against > 0 {
			l.Ratio = l.Measured / l.Against
			r.Limits = append(r.Limits, l)
		}
	}
	if sp := r.Speed; sp != nil {
		static := serveMBps(sp.Serve, "static", limitClients)
		against := fmt.Sprintf("static file server, %d clients", limitClients)
		add(Limit{Figure: fmt.Sprintf("serve, server just started, %d clients", limitClients), Limit: against, Unit: "MB/s",
			Measured: serveMBps(sp.Serve, "nardedup", limitClients), Against: static, Goal: goalServeCold, AtLeast: true})
		add(Limit{Figure: fmt.Sprintf("serve, warm (frames cached), %d clients", limitClients), Limit: against, Unit: "MB/s",
			Measured: serveMBps(sp.Serve, "nardedup-warm", limitClients), Against: static, Goal: goalServeWarm, AtLeast: true})
		if sp.XZTool != "" {
			add(Limit{Figure: "ingest from nar.xz, CPU seconds", Limit: "xz -dc over the same files", Unit: "CPU s",
				Measured: sp.IngestXZ.CPU, Against: sp.XZDecode.CPU, Goal: goalIngestCPU})
		}
	}
	if c := r.Compare; c != nil && len(c.Scopes) > 0 {
		first := c.Scopes[0]
		for _, rc := range []struct {
			rows []Recompressed
			name string
		}{{r.Recompressed, "zstd"}, {r.RecompressedXZ, "xz"}} {
			if len(rc.rows) > 0 && rc.rows[0].Unavailable == "" {
				add(Limit{Figure: first.Name + " after gc --recompress, " + rc.name + " frames", Limit: "its nar.xz files", Unit: "bytes",
					Measured: float64(rc.rows[0].Stored), Against: float64(first.XZBytes), Goal: goalColdXZSize})
			}
		}
	}
}

// serveMBps is the MB/s of server's run with clients clients, or 0.
func serveMBps(rows []ServeRow, server string, clients int) float64 {
	for _, s := range rows {
		if s.Server == server && s.Clients == clients {
			return s.MBps
		}
	}
	return 0
}
