package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/nardedup/nardedup/bench/internal/units"
	"github.com/nardedup/nardedup/repo"
	"github.com/nardedup/nardedup/source"
)

// Generation is one step of the cache's history: the store paths a cache
// holds at one point in time.
type Generation struct {
	Name   string
	Source source.Source
}

// Options configure a Run.
type Options struct {
	// Generations are ingested in order. The per-generation table uses all
	// of them, the sweep the first SweepGenerations.
	Generations []Generation
	// Corpus describes where the generations came from (optional).
	Corpus *CorpusInfo
	// SweepGenerations bounds the generations each sweep configuration
	// ingests (default 2). SweepSource, if set, replaces Generations for
	// the sweep (a smaller corpus when the main one is too slow).
	SweepGenerations int
	SweepSource      []Generation
	SweepCorpus      *CorpusInfo
	// Sweep lists the configurations to sweep; nil means OneAtATime().
	Sweep []SweepPoint
	// SkipCompare and SkipSweep leave out those parts of the report.
	// SkipRecompress leaves out the comparison's repositories after
	// `gc --recompress` (which take minutes on a large corpus).
	SkipCompare, SkipSweep, SkipRecompress bool
	// Peers names the other tools to measure on the raw NARs (nil: all of
	// PeerNames()); SkipPeers leaves them out.
	Peers     []string
	SkipPeers bool
	// SkipSpeed leaves out the speed section; ServeClients are its
	// client counts (nil: DefaultServeClients()).
	SkipSpeed    bool
	ServeClients []int
	// WorkDir holds the scratch repositories; it is created and emptied
	// as Run goes. Required.
	WorkDir string
	// Jobs is ingest.Options.Jobs (default 2).
	Jobs int
	// Command is recorded in the report as the command line.
	Command string
	// Log, if set, receives one line per step.
	Log io.Writer
}

// Report is everything a Run measured.
type Report struct {
	Command     string      `json:"command"`
	Started     time.Time   `json:"started"`
	Elapsed     float64     `json:"elapsed_s"`
	Machine     Machine     `json:"machine"`
	LoadStart   string      `json:"load_start"` // /proc/loadavg when the run began
	LoadEnd     string      `json:"load_end"`   // and when it ended
	Corpus      *CorpusInfo `json:"corpus,omitempty"`
	Default     RepoConfig  `json:"default_config"`
	Jobs        int         `json:"jobs"` // ingest.Options.Jobs of every run
	Generations []GenRow    `json:"generations"`
	Totals      Totals      `json:"totals"`
	Compare     *Compare    `json:"compare,omitempty"`
	// Recompressed: the repository of each comparison scope after
	// `gc --recompress`.
	Recompressed []Recompressed `json:"recompressed,omitempty"`
	// RecompressedXZ are the same copies recompressed into xz frames
	// (gc --recompress --cold-codec xz).
	RecompressedXZ []Recompressed `json:"recompressed_xz,omitempty"`
	Sweep          *Sweep         `json:"sweep,omitempty"`
	Speed          *Speed         `json:"speed,omitempty"`
	Peers          *Peers         `json:"peers,omitempty"`
	// Limits set the figures above against their limits; they are
	// derived from them, so ParseJSON derives them again.
	Limits []Limit `json:"limits,omitempty"`
}

// RepoConfig is the part of a repository configuration a run varies.
type RepoConfig struct {
	MinSize   uint   `json:"chunk_min"`
	AvgBits   int    `json:"chunk_avg_bits"`
	MaxSize   uint   `json:"chunk_max"`
	ZstdLevel int    `json:"zstd_level"`
	GroupSize int    `json:"group_size"`
	PackSize  int    `json:"pack_size"`
	Strip     string `json:"strip"`
}

func repoConfig(c repo.Config) RepoConfig {
	return RepoConfig{MinSize: c.Chunks.Chunker.MinSize, AvgBits: c.Chunks.Chunker.AvgBits, MaxSize: c.Chunks.Chunker.MaxSize,
		ZstdLevel: c.Chunks.ZstdLevel, GroupSize: c.Chunks.GroupSize, PackSize: c.Chunks.PackSize, Strip: c.NARs.Strip}
}

// String is the configuration in one short line.
func (c RepoConfig) String() string {
	return fmt.Sprintf("chunks %s/%s/%s, zstd %d, group %s, pack %s, strip %s",
		units.Exact(int64(c.MinSize)), units.Exact(int64(1)<<c.AvgBits), units.Exact(int64(c.MaxSize)),
		c.ZstdLevel, units.Exact(int64(c.GroupSize)), units.Exact(int64(c.PackSize)), c.Strip)
}

// Run measures opts.Generations and returns the report.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if len(opts.Generations) == 0 {
		return nil, errors.New("bench: no generations to ingest")
	}
	if opts.WorkDir == "" {
		return nil, errors.New("bench: no work directory")
	}
	if opts.Jobs <= 0 {
		opts.Jobs = 2
	}
	start := time.Now()
	r := &runner{opts: opts, rep: &Report{Command: opts.Command, Started: start.UTC(), Machine: machine(), LoadStart: loadAvg(),
		Corpus: opts.Corpus, Jobs: opts.Jobs, Default: repoConfig(repo.DefaultConfig())}}
	if err := os.MkdirAll(opts.WorkDir, 0o755); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if err := r.runGenerations(ctx); err != nil {
		return nil, err
	}
	if !opts.SkipCompare {
		if err := r.runCompare(ctx); err != nil {
			return nil, err
		}
	}
	if err := r.runRaw(ctx); err != nil {
		return nil, err
	}
	if !opts.SkipSweep {
		if err := r.runSweep(ctx); err != nil {
			return nil, err
		}
	}
	r.rep.limits()
	r.rep.Elapsed = time.Since(start).Seconds()
	r.rep.LoadEnd = loadAvg()
	return r.rep, nil
}

// runner is one Run: its options, held once for every measurement step,
// and the report the steps fill.
type runner struct {
	opts Options
	rep  *Report
}

// scratch returns an empty directory name under the work directory.
func (r *runner) scratch(name string) (string, error) {
	dir := filepath.Join(r.opts.WorkDir, name)
	if err := os.RemoveAll(dir); err != nil {
		return "", fmt.Errorf("bench: clear %s: %w", dir, err)
	}
	return dir, nil
}

// scratchRepo creates a repository with cfg in the emptied scratch
// directory name and opens it, as newRepo does.
func (r *runner) scratchRepo(ctx context.Context, name string, cfg repo.Config) (*scratchRepo, error) {
	dir, err := r.scratch(name)
	if err != nil {
		return nil, err
	}
	return newRepo(ctx, dir, cfg)
}

func (r *runner) logf(format string, args ...any) {
	if r.opts.Log != nil {
		fmt.Fprintf(r.opts.Log, "%s bench: %s\n", time.Now().Format(time.TimeOnly), fmt.Sprintf(format, args...))
	}
}
