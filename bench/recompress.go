package bench

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/nardedup/nardedup/bench/internal/units"
	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend/local"
	"github.com/nardedup/nardedup/gc"
	"github.com/nardedup/nardedup/repo"
)

// Recompressed is the repository of one comparison scope after
// `nardedup gc --recompress`, run on a copy of it.
type Recompressed struct {
	Scope       string  `json:"scope"`
	Stored      int64   `json:"stored"` // every object after the collection
	Packs       int     `json:"packs"`  // recompressed
	LiveBytes   int64   `json:"live_bytes"`
	Frames      int     `json:"frames"`
	Seconds     float64 `json:"seconds"`
	CPU         float64 `json:"cpu_seconds"`
	Codec       string  `json:"codec,omitempty"` // of the frames: zstd when empty
	Level       int     `json:"zstd_level"`
	GroupSize   int     `json:"group_size"`
	Workers     int     `json:"workers"`
	Unavailable string  `json:"unavailable,omitempty"` // why it was not measured
}

// recompressOptions are those of `gc --recompress --cold-codec codec`,
// with as many workers compressing frames in parallel as ingest jobs.
func recompressOptions(jobs int, codec string) gc.Options {
	cp := chunkstore.CopyOptions{ZstdLevel: gc.DefaultRecompressLevel, GroupSize: gc.DefaultRecompressGroupSize, Workers: jobs, Codec: codec}
	if codec == chunkstore.CodecXZ {
		cp.XZX86, cp.XZGzip = true, true
	}
	return gc.Options{Grace: -1, RepackBelow: -1, Recompress: gc.RecompressOptions{Enabled: true, MinLiveBytes: -1, Copy: cp}}
}

// snapshot copies the repository of rp (idle) into a scratch directory,
// for recompressCopy to run on later, and returns the directory.
func (r *runner) snapshot(rp *scratchRepo, scope string) (string, error) {
	dir, err := r.scratch("recompress-" + scope)
	if err != nil {
		return "", err
	}
	if err := copyTree(filepath.Join(rp.dir, "repo"), filepath.Join(dir, "repo")); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// recompressCopy runs a collection that recompresses everything in the
// snapshot in dir into frames of codec, then deletes the snapshot. For xz
// frames it first allows them in the copy's configuration.
func (r *runner) recompressCopy(ctx context.Context, dir, scope, codec string) (Recompressed, error) {
	defer os.RemoveAll(dir)
	gopts := recompressOptions(r.opts.Jobs, codec)
	res := Recompressed{Scope: scope, Codec: codec, Level: gopts.Recompress.Copy.ZstdLevel, GroupSize: gopts.Recompress.Copy.GroupSize, Workers: r.opts.Jobs}
	if !chunkstore.HasLibzstd || codec == chunkstore.CodecXZ && !chunkstore.HasLibxz {
		res.Unavailable = "built without cgo"
		return res, nil
	}
	be, err := local.Open(filepath.Join(dir, "repo"))
	if err != nil {
		return res, fmt.Errorf("bench: open copy: %w", err)
	}
	if codec == chunkstore.CodecXZ {
		if _, err := repo.EnableXZFrames(ctx, be, true); err != nil {
			return res, fmt.Errorf("bench: allow xz frames in the copy: %w", err)
		}
	}
	rp, err := repo.Open(ctx, be, repo.Options{Chunks: chunkstore.Options{IndexPath: filepath.Join(dir, "index.db")}})
	if err != nil {
		return res, fmt.Errorf("bench: open copy: %w", err)
	}
	defer rp.Close()
	gopts.TempDir = dir
	start, cpu := time.Now(), cpuSeconds()
	rep, err := gc.Collect(ctx, rp, gopts)
	res.Seconds, res.CPU = time.Since(start).Seconds(), cpuSeconds()-cpu
	if err != nil {
		return res, fmt.Errorf("bench: recompress %s: %w", scope, err)
	}
	if rep.Pending != "" {
		return res, fmt.Errorf("bench: recompress %s: %s", scope, rep.Pending)
	}
	res.Stored, res.Packs, res.LiveBytes, res.Frames = rep.After.Bytes, rep.RecompressedPacks, rep.RecompressLiveBytes, rep.Recompressed.Frames
	r.logf("recompress %s into %s: %s -> %s in %.1fs (%.1f CPU s)", scope, gopts.Recompress.Copy.Codec, units.MiB(rep.Before.Bytes), units.MiB(res.Stored), res.Seconds, res.CPU)
	return res, nil
}

// copyTree copies the regular files under src into dst.
func copyTree(src, dst string) error {
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(to)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		return fmt.Errorf("bench: copy repository: %w", err)
	}
	return nil
}
