package bench_test

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/bench"
	"github.com/nardedup/nardedup/bench/report"
)

// checkPeers checks the peer rows: one per known peer, measured when the
// tool is installed, marked "not installed" with a way to install it
// otherwise.
func checkPeers(t *testing.T, rep *bench.Report) {
	t.Helper()
	p, md := rep.Peers, report.Markdown(rep)
	names := bench.PeerNames()
	if p == nil || len(p.Rows) != len(names) {
		t.Fatalf("peers %+v, want one row for each of %v", p, names)
	}
	best := -1
	for i, row := range p.Rows {
		if row.Name != names[i] || row.Command == "" || row.Chunking == "" {
			t.Errorf("peer row %d: %+v", i, row)
		}
		if !row.Installed {
			if _, err := exec.LookPath(row.Tool); err == nil || row.Install == "" ||
				!strings.Contains(md, "| "+row.Name+" | not installed (`"+row.Install+"`)") {
				t.Errorf("peer %s marked not installed (lookup error %v, install %q) or not so reported", row.Name, err, row.Install)
			}
			continue
		}
		if row.Error != "" || len(row.Gens) != len(rep.Generations) {
			t.Errorf("peer %s: error %q, %d generations", row.Name, row.Error, len(row.Gens))
			continue
		}
		checkPeerGens(t, row)
		if best < 0 || row.Stored < p.Rows[best].Stored {
			best = i
		}
	}
	if p.Best != best {
		t.Errorf("best peer %d, want %d", p.Best, best)
	}
	if best >= 0 && !strings.Contains(md, "smaller** than the best peer") {
		t.Errorf("report.md lacks the comparison with the best peer")
	}
	if best < 0 && !strings.Contains(md, "No peer was measured") {
		t.Errorf("report.md does not say no peer was measured")
	}
}

func checkPeerGens(t *testing.T, row bench.PeerRow) {
	t.Helper()
	var prev float64
	var stored int64
	for _, g := range row.Gens {
		if g.Stored <= 0 || g.Stored < stored || g.Added != g.Stored-stored || g.Seconds <= 0 {
			t.Errorf("peer %s, %s: %+v after %d stored", row.Name, g.Name, g, stored)
		}
		stored = g.Stored
		prev += g.Seconds
	}
	if row.Stored != stored || row.Seconds < prev {
		t.Errorf("peer %s: stored %d, %.2fs; generations say %d, %.2fs", row.Name, row.Stored, row.Seconds, stored, prev)
	}
}

// checkSpeed checks the speed section: positive rates, the uncompressed
// ingest read the same NARs, and both servers served every NAR of the
// last generation, lastNar being its NarSize by store path hash.
func checkSpeed(t *testing.T, rep *bench.Report, lastNar map[string]int64, clients []int) {
	t.Helper()
	sp := rep.Speed
	if sp == nil || len(sp.PlainGens) != len(rep.Generations) {
		t.Fatalf("speed %+v: want a plain ingest row per generation", sp)
	}
	if sp.IngestXZ.MBps <= 0 || sp.IngestPlain.MBps <= 0 || sp.IngestPlain.Bytes != sp.IngestXZ.Bytes || sp.IngestPlain.PeakRSS <= 0 {
		t.Errorf("ingest rates: from xz %+v, from none %+v", sp.IngestXZ, sp.IngestPlain)
	}
	for i, g := range sp.PlainGens {
		if x := rep.Generations[i]; g.NARsRead != x.NARsRead || g.NarRead != x.NarRead || g.MBps <= 0 {
			t.Errorf("%s from none read %d NARs, %d bytes at %.1f MB/s; from xz %d, %d", g.Name, g.NARsRead, g.NarRead, g.MBps, x.NARsRead, x.NarRead)
		}
	}
	if _, err := exec.LookPath("xz"); err == nil && (sp.XZDecode.MBps <= 0 || sp.XZDecode.Bytes != uniqueNar(rep)) {
		t.Errorf("xz -dc: %+v, want %d bytes", sp.XZDecode, uniqueNar(rep))
	}
	var want int64
	for _, n := range lastNar {
		want += n
	}
	if sp.ServeBytes != want || sp.ServeNARs != len(lastNar) || len(sp.Serve) != 3*len(clients) {
		t.Fatalf("serve: %d NARs, %d bytes, %d rows; want %d, %d, %d", sp.ServeNARs, sp.ServeBytes, len(sp.Serve), len(lastNar), want, 3*len(clients))
	}
	for i, s := range sp.Serve {
		server := []string{"nardedup", "nardedup-warm", "static"}[i/len(clients)]
		if s.Server != server || s.Clients != clients[i%len(clients)] || s.Bytes != want || s.Requests != len(lastNar) ||
			s.MBps <= 0 || s.TTFB50 <= 0 || s.TTFB99 < s.TTFB50 || s.PeakRSS <= 0 {
			t.Errorf("serve row %d: %+v", i, s)
		}
		switch {
		case server == "nardedup" && s.BackendReads == 0:
			t.Errorf("cold server counted no backend read: %+v", s)
		case server == "nardedup-warm" && s.BackendReads >= sp.Serve[i-len(clients)].BackendReads:
			t.Errorf("warm server read the backend as often as cold: %+v", s)
		case server == "nardedup" && (s.FrameMisses == 0 || s.FrameCache < 2*want):
			t.Errorf("cold server decoded no frame, or its cache is small: %+v", s)
		case server == "nardedup-warm" && (s.FrameMisses != 0 || s.FrameHits == 0):
			t.Errorf("warm server decoded frames again (its cache holds the generation): %+v", s)
		case server == "static" && s.FrameCache != 0:
			t.Errorf("static row with a frame cache: %+v", s)
		}
	}
	t.Logf("backend reads per NAR served: cold %.2f, warm %.2f", rep.Measured().ColdGets, rep.Measured().WarmGets)
	for _, s := range []string{"## Speed", "### Serve", "## What it costs", "measured by the serve run", "| static | " + strconv.Itoa(clients[len(clients)-1]) + " |", "from uncompressed NARs", "`xz -dc`"} {
		if !strings.Contains(report.Markdown(rep), s) {
			t.Errorf("report.md lacks %q", s)
		}
	}
}

// TestPeersNotInstalled hides every peer's program: the run still
// succeeds and reports each as not installed.
func TestPeersNotInstalled(t *testing.T) {
	gens, _ := sampleGenerations(t)
	t.Setenv("PATH", t.TempDir())
	t.Setenv("GOPATH", t.TempDir())
	rep, err := bench.Run(context.Background(), bench.Options{
		Generations: gens[:1], SkipCompare: true, SkipSweep: true, SkipSpeed: true, WorkDir: t.TempDir(),
	})
	must(t, err)
	checkPeers(t, rep)
	for _, row := range rep.Peers.Rows {
		if row.Installed {
			t.Errorf("peer %s found with an empty PATH", row.Name)
		}
	}
}

// uniqueNar is the NAR bytes of the distinct NARs of the whole corpus.
func uniqueNar(rep *bench.Report) int64 {
	sc := rep.Compare.Scopes
	return sc[len(sc)-1].UniqueNar
}
