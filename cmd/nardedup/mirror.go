package main

import (
	"fmt"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/internal/metrics"
	"github.com/nardedup/nardedup/internal/progress"
	"github.com/nardedup/nardedup/mirror"
	"github.com/nardedup/nardedup/repo"
	"github.com/nardedup/nardedup/retention"
	"github.com/urfave/cli/v2"
)

func mirrorCommand() *cli.Command {
	return &cli.Command{
		Name:  "mirror",
		Usage: "make and keep a copy of a remote nardedup repository, fetching only the chunks not yet held",
		Description: `mirror copies the narinfos and NARs of a nardedup server (--from, which
serves the read API) into a repository (--repo), created with the remote's
settings if it does not exist: all of them, or the closure of the store paths
in --paths. For each NAR it lacks it fetches the manifest and only the frames
of chunks it does not hold; each NAR is checked as the mirror stores it and
again as it rebuilds it before its narinfo becomes visible. A run killed at
any time is resumed by the next, which skips what is committed. With --follow
it syncs again after each interval until SIGTERM.

   nardedup mirror --from https://cache.example --repo /srv/mirror
   nardedup mirror --from https://cache.example --repo /srv/mirror --follow 10m
   nardedup serve  --repo /srv/mirror`,
		Flags: repoFlags(append([]cli.Flag{
			&cli.StringFlag{Name: "from", Usage: "`URL` of the remote nardedup server (user:password@ for basic auth)", Required: true, EnvVars: []string{"NARDEDUP_MIRROR_FROM"}},
			&cli.StringFlag{Name: "from-token-file", Usage: "`FILE` holding a bearer token for the remote", EnvVars: []string{"NARDEDUP_MIRROR_TOKEN_FILE"}},
			&cli.StringFlag{Name: "from-netrc", Usage: "netrc `FILE` holding basic auth for the remote's host", EnvVars: []string{"NARDEDUP_MIRROR_NETRC"}},
			&cli.StringFlag{Name: "paths", Usage: "mirror only the closure of the store paths in this `FILE`, one a line", EnvVars: []string{"NARDEDUP_MIRROR_PATHS"}},
			&cli.DurationFlag{Name: "follow", Usage: "sync again after each `DURATION` until stopped (0: once)", EnvVars: []string{"NARDEDUP_MIRROR_FOLLOW"}},
			frameCacheFlag(),
			&cli.IntFlag{Name: "batch", Usage: "NARs stored before they are checked and made visible together", Value: mirror.DefaultBatch, EnvVars: []string{"NARDEDUP_MIRROR_BATCH"}},
			quietFlag(),
		}, observeFlags()...)...),
		Action: runMirror,
	}
}

func runMirror(c *cli.Context) error {
	log, reg, err := observe(c)
	if err != nil {
		return fmt.Errorf("mirror: %w", err)
	}
	from, token, err := remoteAuth(c, "from")
	if err != nil {
		return fmt.Errorf("mirror: %w", err)
	}
	opts := mirror.Options{From: from, Token: token, Batch: c.Int("batch"), Logger: log}
	client, err := mirror.NewClient(opts)
	if err != nil {
		return fmt.Errorf("mirror: %w", err)
	}
	be, err := repo.CreateBackend(c.Context, c.String("repo"))
	if err != nil {
		return err
	}
	if be, err = meter(be, reg); err != nil {
		return fmt.Errorf("mirror: %w", err)
	}
	if ok, err := repo.Exists(c.Context, be); err != nil {
		return err
	} else if !ok {
		if err := mirror.Create(c.Context, be, client); err != nil {
			return err
		}
	}
	frames, err := frameCache(c)
	if err != nil {
		return fmt.Errorf("mirror: %w", err)
	}
	// The frame cache serves the chunks of a NAR the mirror holds, which
	// lie mostly in a few frames, without decoding a frame per chunk.
	rp, err := repo.Open(c.Context, be, repo.Options{IndexCache: c.String("index-cache"), Role: "mirror",
		Chunks: chunkstore.Options{FrameCache: frames}})
	if err != nil {
		return err
	}
	defer rp.Close()
	if f := c.String("paths"); f != "" {
		if opts.Paths, err = retention.ReadList(f, rp.Config().NARs.StoreDir); err != nil {
			return fmt.Errorf("mirror: --paths: %w", err)
		}
	}
	m, err := mirror.New(c.Context, rp, opts)
	if err != nil {
		return err
	}
	if err := metrics.RegisterMirror(reg, m.Stats); err != nil {
		return fmt.Errorf("mirror: %w", err)
	}
	stop, err := startMetrics(c, reg, log)
	if err != nil {
		return err
	}
	defer stop()
	log.Info("mirroring "+m.Remote(), "repo", be.String())
	rep := startProgress(c, "mirror")
	stopCounts := pollProgress(rep, func() progress.Counts { return mirrorCounts(m.Stats()) })
	if every := c.Duration("follow"); every > 0 {
		err = m.Follow(c.Context, every)
	} else {
		err = m.Sync(c.Context)
	}
	stopCounts()
	rep.Close()
	st := m.Stats()
	log.Info("mirror done", "narinfos_seen", st.Seen, "held", st.Held, "written", st.Mirrored, "nars", st.NARs,
		"resumed", st.Resumed, "failed", st.Failed, "received_bytes", st.Remote.BytesReceived,
		"frames", st.Remote.Frames, "chunks_held", st.Remote.ChunksHeld, "chunks_fetched", st.Remote.ChunksFetched)
	return err
}
