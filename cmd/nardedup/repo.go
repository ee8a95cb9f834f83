package main

import (
	"fmt"
	"strings"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/cache"
	"github.com/nardedup/nardedup/repo"
	"github.com/urfave/cli/v2"
)

var repoFlag = &cli.StringFlag{
	Name:     "repo",
	Usage:    "repository: a directory, or s3://BUCKET/PREFIX?endpoint=HOST:PORT&region=R&tls=false (credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE)",
	EnvVars:  []string{"NARDEDUP_REPO"},
	Required: true,
}

var indexCacheFlag = &cli.StringFlag{
	Name:    "index-cache",
	Usage:   "directory for the local index cache (derived data; default: the user cache directory)",
	EnvVars: []string{"NARDEDUP_INDEX_CACHE"},
}

// repoFlags are the flags of every command that opens a repository.
func repoFlags(extra ...cli.Flag) []cli.Flag {
	return append([]cli.Flag{repoFlag, indexCacheFlag}, extra...)
}

// openBackend opens the backend of --repo, which must exist: only ingest
// creates a repository (with repo.CreateBackend).
func openBackend(c *cli.Context) (backend.Backend, error) {
	return repo.OpenBackend(c.Context, c.String("repo"))
}

// withCache wraps be in the local cache of --cache-dir, if given.
func withCache(c *cli.Context, be backend.Backend) (backend.Backend, error) {
	dir := c.String("cache-dir")
	if dir == "" {
		return be, nil
	}
	size, err := cache.ParseSize(c.String("cache-size"))
	if err != nil {
		return be, fmt.Errorf("--cache-size: %w", err)
	}
	cb, err := cache.New(be, dir, size)
	if err != nil {
		return be, fmt.Errorf("--cache-dir: %w", err)
	}
	return cb, nil
}

// openRepo opens the repository of --repo. role names the local index
// file, so that a server and an ingest on one machine keep separate index
// caches.
func openRepo(c *cli.Context, role string, opts chunkstore.Options) (*repo.Repo, error) {
	be, err := openBackend(c)
	if err != nil {
		return nil, err
	}
	return repo.Open(c.Context, be, repo.Options{IndexCache: c.String("index-cache"), Role: role, Chunks: opts})
}

// openReader opens the repository for a command that reads NARs (role
// names it too), with the frame cache of --frame-cache, as a server does:
// so verify checks what a server would send, by the same way.
func openReader(c *cli.Context, role string) (*repo.Repo, error) {
	frames, err := frameCache(c)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", role, err)
	}
	be, err := openBackend(c)
	if err != nil {
		return nil, err
	}
	return repo.Open(c.Context, be, repo.Options{IndexCache: c.String("index-cache"), Role: role,
		Chunks: chunkstore.Options{FrameCache: frames}, ReadOnly: true})
}

// frameCacheFlag is --frame-cache of the commands that read NARs.
func frameCacheFlag() cli.Flag {
	return &cli.StringFlag{Name: "frame-cache", Usage: "keep up to `BYTES` of decoded frames in memory, so that frames several NARs share are decompressed once (suffixes K, M, G; 0: none; the process may hold about twice this)",
		Value: fmt.Sprintf("%dM", chunkstore.DefaultFrameCache>>20), EnvVars: []string{"NARDEDUP_FRAME_CACHE"}}
}

// frameCache returns --frame-cache in bytes.
func frameCache(c *cli.Context) (int64, error) {
	v := c.String("frame-cache")
	if strings.TrimSpace(v) == "0" {
		return 0, nil
	}
	n, err := cache.ParseSize(v)
	if err != nil {
		return 0, fmt.Errorf("--frame-cache: %w", err)
	}
	return n, nil
}
