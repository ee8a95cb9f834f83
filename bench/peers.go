package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/nardedup/nardedup/bench/internal/units"
)

// Peers is the storage of the raw NARs by other deduplicating tools, each
// generation one backup, measured in the same run.
type Peers struct {
	Method string    `json:"method"`
	Rows   []PeerRow `json:"rows"`
	Best   int       `json:"best"` // index of the measured peer storing least, or -1
}

// PeerRow is what one tool stored and how long it took.
type PeerRow struct {
	Name        string    `json:"name"` // casync, borg, borg-64k, restic
	Tool        string    `json:"tool"` // the program
	Chunking    string    `json:"chunking"`
	Command     string    `json:"command"` // the per-generation command
	Installed   bool      `json:"installed"`
	Install     string    `json:"install,omitempty"` // how to get it
	Version     string    `json:"version,omitempty"`
	Error       string    `json:"error,omitempty"` // a failed run is reported, not fatal
	InitSeconds float64   `json:"init_s"`
	Gens        []PeerGen `json:"generations,omitempty"`
	Stored      int64     `json:"stored"`  // after the last generation
	Seconds     float64   `json:"seconds"` // init and every generation
	PeakRSS     int64     `json:"peak_rss"`
}

// PeerGen is one generation's backup by a peer.
type PeerGen struct {
	Name    string  `json:"name"`
	Stored  int64   `json:"stored"` // repository bytes after it
	Added   int64   `json:"added"`
	Seconds float64 `json:"seconds"`
	CPU     float64 `json:"cpu_seconds"` // user+system of the tool's process
	PeakRSS int64   `json:"peak_rss"`    // its maximum RSS
}

// Ok reports whether the peer was measured.
func (p PeerRow) Ok() bool { return p.Installed && p.Error == "" && len(p.Gens) > 0 }

const peersMethod = "every distinct NAR decompressed once into a scratch directory; each generation is a directory of hard links " +
	"to its NARs (one file per NAR, named by NarHash), backed up by each tool in turn into one repository per tool, " +
	"the tool run in that directory over \".\". *stored* is the apparent size of every file of the tool's repository " +
	"(for casync: chunk store and index files) after the generation; nardedup's counts every repository object, narinfos included. " +
	"Times are wall-clock seconds of the tool's processes; their peak RSS is the largest VmHWM of one of them (sampled every 20 ms)."

// PeerNames are the peers a run measures by default.
func PeerNames() []string { return []string{"casync", "borg", "borg-64k", "restic"} }

// runPeers backs up every generation of rc with each peer.
func (r *runner) runPeers(ctx context.Context, rc *rawCorpus) error {
	names := r.opts.Peers
	if names == nil {
		names = PeerNames()
	}
	p := &Peers{Method: peersMethod, Best: -1}
	for _, name := range names {
		spec, ok := peerSpecs()[name]
		if !ok {
			return fmt.Errorf("bench: unknown peer %q (want one of %s)", name, strings.Join(PeerNames(), ", "))
		}
		row, err := r.runPeer(ctx, spec, rc)
		if err != nil {
			return err
		}
		r.logf("peer %s: %s", name, row.summary())
		p.Rows = append(p.Rows, row)
	}
	for i, row := range p.Rows {
		if row.Ok() && (p.Best < 0 || row.Stored < p.Rows[p.Best].Stored) {
			p.Best = i
		}
	}
	r.rep.Peers = p
	return nil
}

func (p PeerRow) summary() string {
	switch {
	case !p.Installed:
		return "not installed (" + p.Install + ")"
	case p.Error != "":
		return "failed: " + p.Error
	}
	return fmt.Sprintf("stored %s in %.1fs", units.MiB(p.Stored), p.Seconds)
}

// runPeer measures one peer. Only scratch-directory trouble is an error;
// a missing or failing tool is recorded in the row.
func (r *runner) runPeer(ctx context.Context, spec peerSpec, rc *rawCorpus) (PeerRow, error) {
	row := PeerRow{Name: spec.name, Tool: spec.tool, Chunking: spec.chunking, Install: spec.install,
		Command: spec.tool + " " + strings.Join(spec.backup("REPO", "gen-K"), " ")}
	bin := findTool(spec.tool)
	if bin == "" {
		return row, nil
	}
	row.Installed, row.Version = true, toolVersion(ctx, bin, spec.version)
	work, err := r.scratch("peer-" + spec.name)
	if err != nil {
		return row, err
	}
	defer os.RemoveAll(work)
	repo := filepath.Join(work, "repo")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return row, fmt.Errorf("bench: peer %s: %w", spec.name, err)
	}
	env := append(os.Environ(), spec.env(work)...)
	if spec.init != nil {
		res := runTool(ctx, bin, work, env, spec.init(repo))
		row.InitSeconds, row.PeakRSS = res.seconds, res.rss
		if res.err != nil {
			row.Error = "init: " + res.err.Error()
			return row, nil
		}
	} else if err := os.MkdirAll(repo, 0o755); err != nil {
		return row, fmt.Errorf("bench: peer %s: %w", spec.name, err)
	}
	row.Seconds = row.InitSeconds
	for _, g := range rc.gens {
		res := runTool(ctx, bin, g.Dir, env, spec.backup(repo, g.Name))
		if res.err != nil {
			row.Error = g.Name + ": " + res.err.Error()
			return row, nil
		}
		stored, err := dirSize(repo)
		if err != nil {
			return row, err
		}
		row.Gens = append(row.Gens, PeerGen{Name: g.Name, Stored: stored, Added: stored - row.Stored,
			Seconds: res.seconds, CPU: res.cpu, PeakRSS: res.rss})
		row.Stored, row.Seconds, row.PeakRSS = stored, row.Seconds+res.seconds, max(row.PeakRSS, res.rss)
	}
	return row, nil
}

// toolResult is how one run of a peer's program went.
type toolResult struct {
	seconds, cpu float64
	rss          int64 // maximum RSS in bytes
	err          error
}

// runTool runs bin with args in dir and measures it.
func runTool(ctx context.Context, bin, dir string, env, args []string) toolResult {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir, cmd.Env = dir, env
	var out tailBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Start()
	var res toolResult
	if err == nil {
		stop := make(chan struct{})
		rss := make(chan int64)
		go func() { rss <- pollHWM(cmd.Process.Pid, stop) }()
		err = cmd.Wait()
		close(stop)
		res.rss = <-rss
	}
	res.seconds = time.Since(start).Seconds()
	if ps := cmd.ProcessState; ps != nil {
		res.cpu = (ps.UserTime() + ps.SystemTime()).Seconds()
	}
	if err != nil {
		res.err = fmt.Errorf("%s %s: %w: %s", filepath.Base(bin), strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return res
}

// pollHWM reads the VmHWM of process pid every 20 ms until stop is closed
// and returns the last value read. (The child's rusage maximum RSS would
// count this process's RSS at the fork, before the program was executed.)
func pollHWM(pid int, stop <-chan struct{}) int64 {
	status := fmt.Sprintf("/proc/%d/status", pid)
	var hwm int64
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if v := kbytes(procField(status, "VmHWM")); v > hwm {
			hwm = v
		}
		select {
		case <-stop:
			return hwm
		case <-t.C:
		}
	}
}

// findTool returns the path of a program on PATH or in the Go bin
// directory ($GOPATH/bin, default ~/go/bin), or "".
func findTool(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	gopath, _, _ := strings.Cut(os.Getenv("GOPATH"), string(os.PathListSeparator))
	if gopath == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		gopath = filepath.Join(home, "go")
	}
	p := filepath.Join(gopath, "bin", name)
	if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
		return p
	}
	return ""
}

// toolVersion is the first two words the program prints for its version
// arguments ("borg 1.2.4").
func toolVersion(ctx context.Context, bin string, args []string) string {
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	f := strings.Fields(string(out))
	if err != nil && len(f) == 0 {
		return "unknown (" + err.Error() + ")"
	}
	return strings.Join(f[:min(2, len(f))], " ")
}

// tailBuffer keeps the last 2 KiB written to it.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 2048 {
		t.b = t.b[len(t.b)-2048:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.b) }
