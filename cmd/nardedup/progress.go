package main

import (
	"time"

	"github.com/nardedup/nardedup/admin"
	"github.com/nardedup/nardedup/ingest"
	"github.com/nardedup/nardedup/internal/progress"
	"github.com/nardedup/nardedup/mirror"
	"github.com/urfave/cli/v2"
)

// progressEvery is how often progress lines are printed when stderr is not
// a terminal (0: progress.DefaultEvery); tests shorten it.
var progressEvery time.Duration

// quietFlag turns the progress display off. NARDEDUP_QUIET sets it for
// every command that has it.
func quietFlag(envVars ...string) cli.Flag {
	return &cli.BoolFlag{Name: "quiet", Usage: "no progress display, for scripts", EnvVars: append(envVars, "NARDEDUP_QUIET")}
}

// startProgress starts the progress display of the command what on the
// error writer: a bar on a terminal, a line every few seconds otherwise,
// nothing with --quiet.
func startProgress(c *cli.Context, what string) *progress.Reporter {
	if c.Bool("quiet") {
		return nil
	}
	w := c.App.ErrWriter
	return progress.New(w, what, progress.Options{Terminal: progress.IsTerminal(w), Every: progressEvery})
}

// ingestCounts is how far an ingest of total store paths (0: not known)
// has got.
func ingestCounts(s ingest.Stats, total int) progress.Counts {
	done := s.Skipped + s.OtherShard + s.Linked + s.NARs + s.Failed
	if total > 0 {
		done = min(done, total) // a NAR stored whose commit then failed counts twice
	}
	return progress.Counts{Done: done, Total: total, Bytes: s.NarBytes}
}

// mirrorCounts is how far a mirror has got: the remote's store paths
// looked at, and the NAR bytes fetched.
func mirrorCounts(s mirror.Stats) progress.Counts {
	return progress.Counts{Done: int(s.Seen), Bytes: s.NarBytes}
}

// pollProgress updates rep with counts() every pollEvery until the
// returned stop is called, which updates it a last time: for commands
// whose work reports no progress of its own.
func pollProgress(rep *progress.Reporter, counts func() progress.Counts) (stop func()) {
	if rep == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(pollEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				rep.Update(counts())
			case <-done:
				return
			}
		}
	}()
	return func() {
		close(done)
		<-finished
		rep.Update(counts())
	}
}

// pollEvery is how often pollProgress reads the counts.
const pollEvery = 200 * time.Millisecond

func verifyCounts(r admin.VerifyResult) progress.Counts {
	return progress.Counts{Done: r.StorePaths, Bytes: r.NarBytes}
}

func exportCounts(r admin.ExportResult) progress.Counts {
	return progress.Counts{Done: r.NarInfos, Bytes: r.NarBytes}
}
