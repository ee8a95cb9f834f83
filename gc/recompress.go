package gc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/narfmt"
	"github.com/nardedup/nardedup/narstore"
)

// Defaults of RecompressOptions.
const (
	DefaultRecompressLevel     = 19
	DefaultRecompressGroupSize = 64 << 20
	// DefaultRecompressCodec is the codec of recompressed frames in a
	// repository whose configuration allows xz frames.
	DefaultRecompressCodec = chunkstore.CodecXZ
)

// RecompressOptions configure the recompression of cold packs. Ingest
// compresses fast, at a low level and in small frames; a collection that
// recompresses copies the live chunks of the packs ingest wrote, once they
// are old enough, into frames that are larger and compressed harder (xz,
// or libzstd at a high level; both need cgo), in the order the packs were
// stored. The old
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
	// which must be at least twice the repository's group size. Codec
	// defaults to DefaultRecompressCodec where the repository's
	// configuration allows xz frames (repo.EnableXZFrames), to zstd
	// elsewhere.
	Copy chunkstore.CopyOptions
	// StoredOrder copies the packs' frames in the order the packs were
	// stored. By default they go in the order of the names of the store
	// paths whose NARs reach them (the hash cut off), which puts the
	// outputs and the versions of one package side by side, where zstd
	// finds what they share.
	StoredOrder bool
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
	if o.Copy.Codec == "" {
		o.Copy.Codec = chunkstore.CodecZstd
		if g.cs.Config().XZFrames {
			o.Copy.Codec = DefaultRecompressCodec
		}
	}
	// Expanded gzip streams only where the repository allows them: a
	// later run that finds xz chosen keeps what the configuration says.
	o.Copy.XZGzip = o.Copy.XZGzip && o.Copy.Codec == chunkstore.CodecXZ && g.cs.Config().XZGzipFrames
	if o.MinLiveBytes == 0 {
		o.MinLiveBytes = int64(o.Copy.GroupSize)
	}
	repoGroup := g.cs.Config().GroupSize
	if o.Copy.GroupSize < 2*repoGroup {
		return nil, fmt.Errorf("gc: recompression group size %d is less than twice the repository's group size %d: the packs it writes could not be told apart", o.Copy.GroupSize, repoGroup)
	}
	// Fail before anything is condemned if the options are wrong or
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
	how := fmt.Sprintf("zstd level %d", o.ZstdLevel)
	if o.Codec == chunkstore.CodecXZ {
		how = "xz"
		if o.XZGzip {
			how = "xz (gzip streams expanded)"
		}
	}
	g.opts.Logf("recompressing %d packs, %d bytes of live chunks, into %s frames of %d bytes",
		len(packs), r.live, how, o.GroupSize)
	start := time.Now()
	var frames []chunkstore.Frame
	for _, p := range packs {
		fs, err := g.cs.PackFrames(p)
		if err != nil {
			return fmt.Errorf("gc: recompress %s: %w", p, err)
		}
		frames = append(frames, fs...)
	}
	if !r.opts.StoredOrder {
		if err := r.orderByName(ctx, frames); err != nil {
			return err
		}
	}
	res, err := g.copyWith(ctx, o, "recompress", func(c *chunkstore.Copier) error {
		for _, f := range frames {
			if err := c.CopyFrame(ctx, f, g.liveIn(f.Loc.Pack, has)); err != nil {
				return fmt.Errorf("gc: recompress %s: %w", f.Loc.Pack, err)
			}
		}
		return nil
	})
	g.rep.Recompressed = res
	if err != nil {
		return err
	}
	g.opts.Logf("recompressed %d packs in %s: %d chunks, %d bytes into %d compressed in %d frames",
		len(packs), time.Since(start).Round(time.Millisecond), res.Chunks, res.Bytes, res.StoredBytes, res.Frames)
	return nil
}

// orderByName sorts frames by the first store path, by name, whose NAR
// reaches one of their chunks. Ingest groups the new chunks of one NAR, so
// a frame it wrote is one NAR's. Frames no NAR reaches keep their order, at
// the end. The names come from the mark. It holds an entry for each chunk
// of the frames in memory.
func (r *recompressor) orderByName(ctx context.Context, frames []chunkstore.Frame) error {
	frameOf := make(map[chunkstore.ID]int)
	for i, f := range frames {
		for _, id := range f.Chunks {
			if _, ok := frameOf[id]; !ok {
				frameOf[id] = i
			}
		}
	}
	st := r.g.st
	nars := r.g.names
	slices.SortFunc(nars, func(a, b narName) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		return bytes.Compare(a.narHash[:], b.narHash[:])
	})
	rank := make([]int, len(frames))
	for i := range rank {
		rank[i] = -1
	}
	next := 0
	visit := func(ref chunkstore.Ref) error {
		if i, ok := frameOf[ref.ID]; ok && rank[i] < 0 {
			rank[i] = next
			next++
		}
		return nil
	}
	done := make(map[narfmt.Hash]bool)
	for _, n := range nars {
		if done[n.narHash] {
			continue
		}
		done[n.narHash] = true
		m, err := st.Manifest(ctx, n.narHash)
		if errors.Is(err, narstore.ErrNotFound) {
			continue // its narinfo was forgotten meanwhile
		}
		if err != nil {
			return fmt.Errorf("gc: recompress: order by name: %s: %w", n.name, err)
		}
		for _, refs := range [][]chunkstore.Ref{m.Recipe, m.Positions} {
			for _, ref := range refs {
				visit(ref)
			}
		}
		if err := st.ResidueChunks(ctx, m, visit); err != nil {
			return fmt.Errorf("gc: recompress: order by name: %s: %w", n.name, err)
		}
	}
	for i := range rank {
		if rank[i] < 0 {
			rank[i] = next + i
		}
	}
	idx := make([]int, len(frames))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return rank[a] - rank[b] })
	sorted := make([]chunkstore.Frame, len(frames))
	for i, j := range idx {
		sorted[i] = frames[j]
	}
	copy(frames, sorted)
	return nil
}
