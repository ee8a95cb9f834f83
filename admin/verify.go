package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/pack"
	"github.com/nardedup/nardedup/narfmt"
	"github.com/nardedup/nardedup/narfmt/narinfo"
	"github.com/nardedup/nardedup/narfmt/signature"
	"github.com/nardedup/nardedup/narstore"
	"github.com/nardedup/nardedup/repo/layout"
)

// Damage is one store path whose NAR cannot be rebuilt exactly.
type Damage struct {
	Hash      string // store path hash part
	StorePath string // "" if the narinfo itself is damaged
	Err       error  // names the damaged object: narinfo, manifest, pack or chunk
}

func (d Damage) String() string {
	if d.StorePath != "" {
		return fmt.Sprintf("%s: %v", d.StorePath, d.Err)
	}
	key := layout.NarInfoOf(d.Hash).Key()
	if strings.Contains(d.Err.Error(), key) {
		return d.Err.Error()
	}
	return fmt.Sprintf("%s: %v", key, d.Err)
}

// VerifyResult is what Verify found.
type VerifyResult struct {
	StorePaths int   // narinfos checked, damaged or not
	NARs       int   // distinct NARs rebuilt and found intact
	NarBytes   int64 // their bytes
	Damaged    []Damage
}

// String sums the result up, counting store paths and NARs apart: store
// paths that share a NAR make the two differ.
func (r VerifyResult) String() string {
	return fmt.Sprintf("verified %d NARs (%.1f MiB) of %d store paths, %d store paths damaged",
		r.NARs, float64(r.NarBytes)/(1<<20), r.StorePaths, len(r.Damaged))
}

// Verify rebuilds the NAR of every narinfo and checks it against its
// NarHash and NarSize. Each distinct NAR is read once. progress, if set, is
// called after each narinfo.
func Verify(ctx context.Context, st *narstore.Store, progress func(VerifyResult)) (*VerifyResult, error) {
	return VerifySigned(ctx, st, nil, progress)
}

// VerifySigned is Verify that also requires every narinfo to carry a valid
// signature by one of keys (none: signatures are not checked), which
// catches damage to the References and Sig lines that the NAR's hash does
// not cover.
func VerifySigned(ctx context.Context, st *narstore.Store, keys []signature.PublicKey, progress func(VerifyResult)) (*VerifyResult, error) {
	res := &VerifyResult{}
	checked := make(map[narfmt.Hash]error)
	err := eachNarInfo(ctx, st, func(h string, ni *narinfo.NarInfo, err error) error {
		res.StorePaths++
		if err == nil && len(keys) > 0 {
			if verr := ni.Verify(keys); verr != nil {
				err = fmt.Errorf("%s: %w", layout.NarInfoOf(h).Key(), verr)
			}
		}
		if err == nil {
			err = verifyOne(ctx, st, ni, checked, res)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			d := Damage{Hash: h, Err: err}
			if ni != nil {
				d.StorePath = ni.StorePath
			}
			res.Damaged = append(res.Damaged, d)
		}
		if progress != nil {
			progress(*res)
		}
		return nil
	})
	return res, err
}

func verifyOne(ctx context.Context, st *narstore.Store, ni *narinfo.NarInfo, checked map[narfmt.Hash]error, res *VerifyResult) error {
	sum, err := ni.NarSHA256()
	if err != nil {
		return err
	}
	if err, ok := checked[sum]; ok {
		return err
	}
	err = readNAR(ctx, st, sum, ni.NarSize, res)
	checked[sum] = err
	return err
}

// readNAR rebuilds a NAR and checks it. Its errors name the NAR's manifest,
// and the errors of the chunk store name the damaged pack or chunk.
func readNAR(ctx context.Context, st *narstore.Store, sum narfmt.Hash, size uint64, res *VerifyResult) error {
	key := layout.ManifestOf(sum).Key()
	rc, m, err := st.Open(ctx, sum)
	if err != nil {
		if !strings.Contains(err.Error(), key) {
			err = fmt.Errorf("%s: %w", key, err)
		}
		return err
	}
	defer rc.Close()
	if m.NarSize != size {
		return fmt.Errorf("%w: %s says NarSize %d, the narinfo %d", narstore.ErrCorrupt, key, m.NarSize, size)
	}
	n, err := io.Copy(io.Discard, rc)
	if err != nil {
		return fmt.Errorf("NAR rebuilt from %s: %w", key, err)
	}
	res.NARs++
	res.NarBytes += n
	return nil
}

// PackDamage is a pack whose table of contents is damaged or disagrees
// with its index object.
type PackDamage struct {
	Pack chunkstore.ID
	Err  error // names the pack
}

func (d PackDamage) String() string { return fmt.Sprintf("pack %s: %v", d.Pack, d.Err) }

// PackResult is what VerifyPacks found.
type PackResult struct {
	Packs   int // checked
	Damaged []PackDamage
	// Frames counts the frames of the intact packs by codec, and Bytes
	// their compressed bytes: how much cold data garbage collection has
	// recompressed, and into what.
	Frames map[pack.Codec]FrameCount
}

// FrameCount counts frames of one codec.
type FrameCount struct {
	Frames int
	Bytes  int64 // compressed
}

// FrameSummary says how many frames of each codec the packs hold, in
// codec order: "12 zstd (40.1 MiB), 9 xz+gzip (102.8 MiB)".
func (r *PackResult) FrameSummary() string {
	var parts []string
	for _, c := range slices.Sorted(maps.Keys(r.Frames)) {
		n := r.Frames[c]
		parts = append(parts, fmt.Sprintf("%d %s (%.1f MiB)", n.Frames, c, float64(n.Bytes)/(1<<20)))
	}
	if len(parts) == 0 {
		return "no frames"
	}
	return strings.Join(parts, ", ")
}

// VerifyPacks checks every pack's own table of contents against its
// trailer's checksum and its index object (chunkstore.Store.CheckPack),
// one pack at a time: the damage that reading the NARs, which goes by the
// index objects, does not see, and that would keep the pack out of an
// index rebuilt from the packs. progress, if set, is called after each
// pack.
func VerifyPacks(ctx context.Context, cs *chunkstore.Store, progress func(PackResult)) (*PackResult, error) {
	res := &PackResult{Frames: make(map[pack.Codec]FrameCount)}
	err := layout.List(ctx, cs.Backend(), layout.Pack, func(name string, _ backend.Info) error {
		id, err := chunkstore.ParseID(name)
		if err != nil {
			return nil // not a pack of this layout
		}
		toc, err := cs.CheckPack(ctx, id)
		switch {
		case errors.Is(err, backend.ErrNotExist):
			return nil // deleted meanwhile (gc)
		case errors.Is(err, chunkstore.ErrCorrupt):
			res.Damaged = append(res.Damaged, PackDamage{Pack: id, Err: err})
		case err != nil:
			return err
		default:
			for _, f := range toc.Frames {
				n := res.Frames[f.Codec]
				n.Frames++
				n.Bytes += int64(f.CLen)
				res.Frames[f.Codec] = n
			}
		}
		res.Packs++
		if progress != nil {
			progress(*res)
		}
		return nil
	})
	return res, err
}

// Irregular lists the entries under the narinfo directory of a repository
// on a local backend (one with a Dir method) that are not regular files:
// symlinks, FIFOs, directories. Listing skips them, so neither Verify nor
// the server sees them, and a narinfo put there by hand would silently be
// missing. Other backends hold only objects: Irregular returns nil.
func Irregular(be backend.Backend) ([]string, error) {
	local, ok := be.(interface{ Dir() string })
	if !ok {
		return nil, nil
	}
	prefix := layout.NarInfo.Prefix()
	ents, err := os.ReadDir(filepath.Join(local.Dir(), filepath.FromSlash(prefix)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if !e.Type().IsRegular() {
			out = append(out, fmt.Sprintf("%s%s: %s, not a regular file: skipped, never served", prefix, e.Name(), describeMode(e.Type())))
		}
	}
	return out, nil
}

func describeMode(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "a symlink"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "of mode " + m.String()
}
