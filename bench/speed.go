package bench

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"time"

	"github.com/nardedup/nardedup/bench/internal/units"
	"github.com/nardedup/nardedup/repo"
)

// Speed is how fast nardedup ingests and serves, with plain tools on the
// same bytes measured alongside.
type Speed struct {
	IngestXZ    Rate       `json:"ingest_xz"`   // the per-generation table, summed
	IngestPlain Rate       `json:"ingest_none"` // the same generations from uncompressed NARs
	PlainGens   []GenRow   `json:"ingest_none_generations"`
	XZDecode    Rate       `json:"xz_decode"`         // 2 × xz -dc over the same .nar.xz files
	XZTool      string     `json:"xz_tool,omitempty"` // "" when xz is not installed
	XZFiles     int        `json:"xz_files"`          // .nar.xz files decoded
	ServeGen    string     `json:"serve_generation"`  // whose NARs the clients fetch
	ServeNARs   int        `json:"serve_nars"`        // its narinfos
	ServeBytes  int64      `json:"serve_nar_bytes"`   // their NarSize
	Serve       []ServeRow `json:"serve"`
	// ServeFrameCache is the frame cache of the nardedup servers.
	ServeFrameCache int64 `json:"serve_frame_cache"`
}

// Rate is bytes over time.
type Rate struct {
	NARs    int     `json:"nars"`
	Bytes   int64   `json:"bytes"` // NAR bytes (decoded, for xz -dc)
	Seconds float64 `json:"seconds"`
	CPU     float64 `json:"cpu_seconds"`
	MBps    float64 `json:"mb_per_s"`
	PeakRSS int64   `json:"peak_rss"`
}

func (r *Rate) finish() {
	if r.Seconds > 0 {
		r.MBps = float64(r.Bytes) / 1e6 / r.Seconds
	}
}

// runSpeed ingests rc's plain cache generation by generation into a fresh
// repository, decodes the source files with xz, and serves the last
// generation from that repository.
func (r *runner) runSpeed(ctx context.Context, rc *rawCorpus) error {
	sp := &Speed{}
	for _, g := range r.rep.Generations {
		sp.IngestXZ.add(g)
	}
	sp.IngestXZ.finish()
	rp, err := r.scratchRepo(ctx, "plain-ingest", repo.DefaultConfig())
	if err != nil {
		return err
	}
	defer rp.remove()
	defer rp.close()
	seen := make(map[string]bool)
	for _, g := range rc.gens {
		src, err := rc.source(g)
		if err != nil {
			return err
		}
		row, err := ingestGeneration(ctx, rp, Generation{Name: g.Name, Source: src}, r.opts.Jobs, seen)
		if err != nil {
			return fmt.Errorf("bench: ingest uncompressed NARs: %w", err)
		}
		sp.PlainGens = append(sp.PlainGens, *row)
		sp.IngestPlain.add(*row)
		r.logf("ingest %s from uncompressed NARs: %.1f MB/s", g.Name, row.MBps)
	}
	sp.IngestPlain.finish()
	if err := r.runXZ(ctx, sp, rc); err != nil {
		return err
	}
	if err := r.runServe(ctx, sp, rp, rc); err != nil {
		return err
	}
	r.rep.Speed = sp
	return nil
}

func (r *Rate) add(g GenRow) {
	r.NARs += g.NARsRead
	r.Bytes += g.NarRead
	r.Seconds += g.Seconds
	r.CPU += g.CPU
	r.PeakRSS = max(r.PeakRSS, g.PeakRSS)
}

// runXZ runs two `xz -dc` processes in parallel, each over half of the
// source's .nar.xz files (halves of about equal NAR bytes), output to
// /dev/null, and measures the decoded bytes per wall-clock second.
func (r *runner) runXZ(ctx context.Context, sp *Speed, rc *rawCorpus) error {
	if sp.XZTool = findTool("xz"); sp.XZTool == "" {
		return nil
	}
	var files []*rawFile
	for _, f := range rc.files {
		if f.Compression == "xz" {
			files = append(files, f)
		}
	}
	slices.SortFunc(files, func(a, b *rawFile) int { return cmp.Compare(b.NarSize, a.NarSize) })
	var halves [2][]string
	var load [2]int64
	for _, f := range files {
		i := 0
		if load[1] < load[0] {
			i = 1
		}
		halves[i], load[i] = append(halves[i], f.Source), load[i]+f.NarSize
	}
	sp.XZFiles, sp.XZDecode.NARs, sp.XZDecode.Bytes = len(files), len(files), load[0]+load[1]
	if len(files) == 0 {
		return nil
	}
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	defer null.Close()
	start := time.Now()
	var cmds []*exec.Cmd
	for _, h := range halves {
		if len(h) == 0 {
			continue
		}
		cmd := exec.CommandContext(ctx, sp.XZTool, append([]string{"-dc"}, h...)...)
		cmd.Stdout = null
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("bench: xz -dc: %w", err)
		}
		cmds = append(cmds, cmd)
	}
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			return fmt.Errorf("bench: xz -dc: %w", err)
		}
		sp.XZDecode.CPU += (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
	}
	sp.XZDecode.Seconds = time.Since(start).Seconds()
	sp.XZDecode.finish()
	r.logf("xz -dc ×2: %d files, %s in %.1fs, %.1f MB/s", len(files), units.MiB(sp.XZDecode.Bytes), sp.XZDecode.Seconds, sp.XZDecode.MBps)
	return nil
}
