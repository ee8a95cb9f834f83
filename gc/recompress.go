package gc

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend"
)

// Defaults of RecompressOptions.
const (
	DefaultRecompressLevel     = 19
	DefaultRecompressGroupSize = 32 << 20
)

// RecompressOptions configure the recompression of cold packs. Ingest
// compresses fast, at a low level and in small frames; a collection that
// recompresses copies the live chunks of the packs ingest wrote, once they
// are old enough, into frames that are larger and compressed harder
// (libzstd, which needs cgo), in the order the packs were stored. The old
// packs are then condemned exactly as repacked ones are: the whole
// protocol of the package applies.
//
// A pack is taken for one ingest or a repack wrote when none of its frames
// is larger than half the recompression's group size (nor than the
// repository's group size, which ingest's frames never exceed). The frames
// a recompression writes fill its groups: all but its last are larger than
// that, so a pack it wrote is not recompressed again. Its last frame may be
// small, and a pack holding nothing else looks like ingest's: to keep such
// a leftover from being copied again and again, a collection recompresses
// only when the candidates hold at least one group of live chunks
// (MinLiveBytes).
type RecompressOptions struct {
	// Enabled turns recompression on.
	Enabled bool
	// MinAge: packs stored less than this long ago are not recompressed
	// (default and at least: the grace period).
	MinAge time.Duration
	// Copy configures the new frames. ZstdLevel defaults to
	// DefaultRecompressLevel and GroupSize to DefaultRecompressGroupSize,
	// which must be at least twice the repository's group size.
	Copy chunkstore.CopyOptions
	// MinLiveBytes: recompress only when the candidate packs hold at least
	// this many bytes of live chunks (default: Copy.GroupSize; negative:
	// whatever they hold).
	MinLiveBytes int64
}

// recompressor picks the packs to recompress during the condemn phase and
// copies them.
type recompressor struct {
	g        *collector
	opts     RecompressOptions
	cutoff   time.Time
	maxFrame uint32 // larger frames mark a pack as recompressed already
	cands    []recompressCand
	live     int64
}

type recompressCand struct {
	id        chunkstore.ID
	fi        backend.Info
	total     int64
	liveBytes int64
}

func (g *collector) newRecompressor(now time.Time) (*recompressor, error) {
	o := g.opts.Recompress
	if !o.Enabled {
		return &recompressor{g: g}, nil
	}
	if o.Copy.ZstdLevel == 0 {
		o.Copy.ZstdLevel = DefaultRecompressLevel
	}
	if o.Copy.GroupSize == 0 {
		o.Copy.GroupSize = DefaultRecompressGroupSize
	}
	if o.MinLiveBytes == 0 {
		o.MinLiveBytes = int64(o.Copy.GroupSize)
	}
	repoGroup := g.cs.Config().GroupSize
	if o.Copy.GroupSize < 2*repoGroup {
		return nil, fmt.Errorf("gc: recompression group size %d is less than twice the repository's group size %d: the packs it writes could not be told apart", o.Copy.GroupSize, repoGroup)
	}
	// Fail now, before anything is marked, if the options are wrong or
	// the program has no libzstd.
	c, err := g.cs.NewCopier(o.Copy)
	if err != nil {
		return nil, fmt.Errorf("gc: recompression: %w", err)
	}
	if _, err := c.Close(context.Background()); err != nil {
		return nil, fmt.Errorf("gc: recompression: %w", err)
	}
	return &recompressor{
		g: g, opts: o,
		cutoff:   now.Add(-max(g.opts.Grace, o.MinAge)),
		maxFrame: uint32(max(repoGroup, o.Copy.GroupSize/2)),
	}, nil
}

// consider takes note of a pack that is neither dead nor to repack.
func (r *recompressor) consider(id chunkstore.ID, fi backend.Info, total, liveBytes int64) error {
	if !r.opts.Enabled || !fi.ModTime.Before(r.cutoff) {
		return nil
	}
	small := true
	err := r.g.cs.PackChunks(id, func(_ chunkstore.ID, loc chunkstore.Location) error {
		small = small && loc.FrameULen <= r.maxFrame
		return nil
	})
	if err != nil {
		return err
	}
	if small {
		r.cands = append(r.cands, recompressCand{id, fi, total, liveBytes})
		r.live += liveBytes
	}
	return nil
}

// chosen returns the packs to recompress, in the order they were stored,
// and counts them in the report.
func (r *recompressor) chosen() []chunkstore.ID {
	if len(r.cands) == 0 {
		return nil
	}
	if r.live < r.opts.MinLiveBytes {
		r.g.opts.Logf("not recompressing: %d candidate packs hold %d bytes of live chunks, less than %d",
			len(r.cands), r.live, r.opts.MinLiveBytes)
		return nil
	}
	slices.SortFunc(r.cands, func(a, b recompressCand) int {
		if c := a.fi.ModTime.Compare(b.fi.ModTime); c != 0 {
			return c
		}
		return bytes.Compare(a.id[:], b.id[:])
	})
	ids := make([]chunkstore.ID, len(r.cands))
	for i, c := range r.cands {
		ids[i] = c.id
		r.g.rep.CondemnedPackBytes += c.fi.Size
		if c.total > 0 {
			r.g.rep.FreedBytes += int64(float64(c.fi.Size) * float64(c.total-c.liveBytes) / float64(c.total))
		}
	}
	r.g.rep.RecompressedPacks = len(ids)
	r.g.rep.RecompressLiveBytes = r.live
	return ids
}

// copy copies the live chunks of packs, each counted in one pack only,
// into new packs.
func (r *recompressor) copy(ctx context.Context, packs []chunkstore.ID, has func(chunkstore.ID) bool) error {
	g := r.g
	o := r.opts.Copy
	g.opts.Logf("recompressing %d packs, %d bytes of live chunks, at zstd level %d in groups of %d bytes",
		len(packs), r.live, o.ZstdLevel, o.GroupSize)
	start := time.Now()
	c, err := g.cs.NewCopier(o)
	if err != nil {
		return fmt.Errorf("gc: recompress: %w", err)
	}
	for _, p := range packs {
		err := c.CopyPack(ctx, p, func(id chunkstore.ID) bool {
			if !has(id) {
				return false
			}
			owner, err := g.owner(id)
			return err != nil || owner == p
		})
		if err != nil {
			c.Close(ctx)
			return fmt.Errorf("gc: recompress %s: %w", p, err)
		}
	}
	res, err := c.Close(ctx)
	g.rep.Recompressed = res
	if err != nil {
		return fmt.Errorf("gc: recompress: %w", err)
	}
	g.opts.Logf("recompressed %d packs in %s: %d chunks, %d bytes into %d compressed in %d frames",
		len(packs), time.Since(start).Round(time.Millisecond), res.Chunks, res.Bytes, res.StoredBytes, res.Frames)
	return nil
}
