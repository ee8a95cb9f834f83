package admin

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/nardedup/nardedup/internal/countio"
	"github.com/nardedup/nardedup/narfmt/narinfo"
	"github.com/nardedup/nardedup/narfmt/nixbase32"
	"github.com/nardedup/nardedup/narstore"
	"github.com/nardedup/nardedup/repo/layout"
)

// ExportResult is what Export wrote.
type ExportResult struct {
	NarInfos     int
	NARs         int   // NAR files written
	NarBytes     int64 // uncompressed
	FileBytes    int64 // as written
	Logs         int   // build logs written (log/<drv>)
	Realisations int   // realisations written (realisations/<id>.doi)
}

// Export writes the repository out as a plain binary cache in dir, the
// layout 'nix copy --to file://DIR' writes, with NARs compressed by
// compression ("none" or "zstd"). Every NAR is checked against its NarHash
// on the way out, and narinfos keep their upstream signatures. Files are
// written to a temporary name and renamed, so an interrupted export leaves
// no partial file under a final name; NAR files already present are kept.
// dir must be missing, empty or an earlier export (a binary cache of the
// same store directory); a nardedup repository is refused. Build logs
// and realisations are written too. progress, if
// set, is called after each narinfo.
func Export(ctx context.Context, st *narstore.Store, dir, compression string, progress func(ExportResult)) (*ExportResult, error) {
	if compression != "none" && compression != "zstd" {
		return nil, fmt.Errorf("export: compression %q: want none or zstd", compression)
	}
	if err := checkExportDir(dir, st.StoreDir()); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "nar"), 0o755); err != nil {
		return nil, err
	}
	info := fmt.Sprintf("StoreDir: %s\n", st.StoreDir())
	if err := writeFile(filepath.Join(dir, "nix-cache-info"), func(w io.Writer) error {
		_, err := io.WriteString(w, info)
		return err
	}); err != nil {
		return nil, err
	}
	res := &ExportResult{}
	err := eachNarInfo(ctx, st, func(h string, ni *narinfo.NarInfo, err error) error {
		if err != nil {
			return err
		}
		if err := exportOne(ctx, st, dir, compression, ni, res); err != nil {
			return fmt.Errorf("export %s: %w", ni.StorePath, err)
		}
		res.NarInfos++
		err = writeFile(filepath.Join(dir, h+".narinfo"), func(w io.Writer) error {
			_, err := io.WriteString(w, ni.String())
			return err
		})
		if err == nil && progress != nil {
			progress(*res)
		}
		return err
	})
	if err == nil {
		err = exportExtras(ctx, st, dir, res)
	}
	return res, err
}

// exportExtras writes the build logs and realisations, byte for byte as
// they were ingested or pushed, where 'nix copy' and 'nix store copy-log'
// put them; files already present are kept.
func exportExtras(ctx context.Context, st *narstore.Store, dir string, res *ExportResult) error {
	err := st.ListLogs(ctx, func(drv string) error {
		path := filepath.Join(dir, "log", drv)
		if _, err := os.Lstat(path); err == nil {
			return nil
		}
		rc, err := st.OpenLog(ctx, drv)
		if err != nil {
			return err
		}
		defer rc.Close()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := writeFile(path, func(w io.Writer) error { _, err := io.Copy(w, rc); return err }); err != nil {
			return fmt.Errorf("export build log %s: %w", drv, err)
		}
		res.Logs++
		return nil
	})
	if err != nil {
		return err
	}
	return st.ListRealisations(ctx, func(id string) error {
		path := filepath.Join(dir, "realisations", id+".doi")
		text, err := st.Realisation(ctx, id)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := writeFile(path, func(w io.Writer) error { _, err := w.Write(text); return err }); err != nil {
			return fmt.Errorf("export realisation %s: %w", id, err)
		}
		res.Realisations++
		return nil
	})
}

// checkExportDir refuses to export into dir unless it is missing, empty or
// a binary cache (it has a nix-cache-info) of the same store directory:
// an export must not scatter files among someone else's, and never into a
// nardedup repository.
func checkExportDir(dir, storeDir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, layout.Config.Prefix())); err == nil {
		return fmt.Errorf("export: %s is a nardedup repository (it has a %s): export to another directory", dir, layout.Config.Prefix())
	}
	if len(ents) == 0 {
		return nil
	}
	info, err := os.ReadFile(filepath.Join(dir, "nix-cache-info"))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("export: %s is not empty and not a binary cache (no nix-cache-info): export to an empty directory or an earlier export", dir)
	}
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	for _, line := range strings.Split(string(info), "\n") {
		if v, ok := strings.CutPrefix(line, "StoreDir:"); ok && strings.TrimSpace(v) != storeDir {
			return fmt.Errorf("export: %s is a binary cache of store %s, the repository's is %s", dir, strings.TrimSpace(v), storeDir)
		}
	}
	return nil
}

// exportOne writes the NAR file of ni (unless present) and points ni at it.
func exportOne(ctx context.Context, st *narstore.Store, dir, compression string, ni *narinfo.NarInfo, res *ExportResult) error {
	sum, err := ni.NarSHA256()
	if err != nil {
		return err
	}
	name := "nar/" + sum.String() + ".nar"
	if compression == "zstd" {
		name += ".zst"
	}
	path := filepath.Join(dir, name)
	ni.URL, ni.Compression = name, compression
	if fh, n, ok := existing(path); ok {
		ni.FileHash, ni.FileSize = fh, uint64(n)
		return nil
	}
	rc, _, err := st.Open(ctx, sum)
	if err != nil {
		return err
	}
	defer rc.Close()
	fileHash := sha256.New()
	var written int64
	err = writeFile(path, func(w io.Writer) error {
		cw := &countio.Writer{W: io.MultiWriter(w, fileHash)}
		n, err := compressTo(cw, rc, compression)
		res.NarBytes += n
		written = cw.N
		return err
	})
	if err != nil {
		return err
	}
	res.NARs++
	res.FileBytes += written
	ni.FileHash, ni.FileSize = "sha256:"+nixbase32.EncodeToString(fileHash.Sum(nil)), uint64(written)
	return nil
}

func compressTo(w io.Writer, r io.Reader, compression string) (int64, error) {
	if compression == "none" {
		return io.Copy(w, r)
	}
	enc, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedDefault))
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(enc, r)
	if cerr := enc.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// existing returns the sha256 and size of a file already exported.
func existing(path string) (string, int64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, false
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, false
	}
	return "sha256:" + nixbase32.EncodeToString(h.Sum(nil)), n, true
}

// writeFile writes a file through fill to a temporary name, syncs it and
// renames it into place.
func writeFile(path string, fill func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := fill(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
