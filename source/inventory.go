package source

import (
	"bufio"
	"compress/gzip"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nardedup/nardedup/narfmt/storepath"
)

// ReadList reads the narinfo hashes to ingest from the file name, in one of
// two formats told apart by the first character that is not white space:
// a plain list of store paths (see ListFrom), or, starting with '{', the
// manifest.json of an S3 Inventory of the cache's bucket (see
// ReadInventory), whose data files lie below the manifest's directory. The
// inventory's keys are those of the bucket; prefix is the cache's key
// prefix in it ("" for the bucket root). The hashes are sorted and without
// duplicates.
func ReadList(name, prefix string) ([]string, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	if startsJSON(br) {
		return ReadInventory(os.DirFS(filepath.Dir(name)), filepath.Base(name), prefix)
	}
	hashes, err := ListFrom(br)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return hashes, nil
}

// startsJSON reports whether the first byte of br that is not white space
// is '{', without consuming anything.
func startsJSON(br *bufio.Reader) bool {
	for n := 1; ; n++ {
		b, err := br.Peek(n)
		if err != nil {
			return false
		}
		if c := b[n-1]; c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return c == '{'
		}
	}
}

// maxManifestSize bounds an S3 Inventory manifest.json.
const maxManifestSize = 64 << 20

// inventoryManifest is the part of an S3 Inventory manifest.json that
// ReadInventory uses.
type inventoryManifest struct {
	FileFormat string `json:"fileFormat"`
	FileSchema string `json:"fileSchema"`
	Files      []struct {
		Key string `json:"key"`
	} `json:"files"`
}

// ReadInventory reads the narinfo hashes of a cache from an S3 Inventory of
// its bucket: manifest is the path in fsys of the inventory's
// manifest.json. Its fileFormat must be CSV and its fileSchema name at
// least the columns Bucket and Key; each of its files, a CSV file without
// a header (gzipped, as S3 writes them, or not), is looked for in fsys at
// its key relative to the manifest's directory, or failing that at the
// key without its leading directories, one by one ("inventory/b/c/data/
// x.csv.gz", then "b/c/data/x.csv.gz", … , "x.csv.gz"). The keys, which the
// inventory URL-encodes, are decoded; those that are <hash>.narinfo
// directly under prefix are kept. The hashes are returned sorted and
// without duplicates; an inventory without any is an error, as the prefix
// is then likely wrong.
func ReadInventory(fsys fs.FS, manifest, prefix string) ([]string, error) {
	m, err := readManifest(fsys, manifest)
	if err != nil {
		return nil, fmt.Errorf("source: %s: %w", manifest, err)
	}
	keyCol, err := inventoryKeyColumn(m)
	if err != nil {
		return nil, fmt.Errorf("source: %s: %w", manifest, err)
	}
	if prefix = strings.Trim(prefix, "/"); prefix != "" {
		prefix += "/"
	}
	dir := path.Dir(manifest)
	var hashes []string
	for _, file := range m.Files {
		name, err := findInventoryFile(fsys, dir, file.Key)
		if err != nil {
			return nil, fmt.Errorf("source: %s: %w", manifest, err)
		}
		if hashes, err = readInventoryFile(fsys, name, keyCol, prefix, hashes); err != nil {
			return nil, fmt.Errorf("source: %s: %s: %w", manifest, name, err)
		}
	}
	if len(hashes) == 0 {
		return nil, fmt.Errorf("source: %s: no <hash>.narinfo keys under prefix %q", manifest, prefix)
	}
	slices.Sort(hashes)
	return slices.Compact(hashes), nil
}

func readManifest(fsys fs.FS, name string) (*inventoryManifest, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxManifestSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxManifestSize {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, maxManifestSize)
	}
	var m inventoryManifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("not an S3 Inventory manifest: %w", err)
	}
	if len(m.Files) == 0 {
		return nil, errors.New("S3 Inventory manifest lists no files")
	}
	return &m, nil
}

// inventoryKeyColumn checks the manifest's format and returns the index of
// the Key column.
func inventoryKeyColumn(m *inventoryManifest) (int, error) {
	if m.FileFormat != "CSV" {
		return 0, fmt.Errorf("S3 Inventory fileFormat %q: only CSV is read", m.FileFormat)
	}
	var cols []string
	for c := range strings.SplitSeq(m.FileSchema, ",") {
		cols = append(cols, strings.TrimSpace(c))
	}
	key := slices.Index(cols, "Key")
	if key < 0 || !slices.Contains(cols, "Bucket") {
		return 0, fmt.Errorf("S3 Inventory fileSchema %q: want the columns Bucket and Key", m.FileSchema)
	}
	return key, nil
}

// findInventoryFile returns the name in fsys of the data file with key: dir
// joined with the key or with the key without its leading directories.
func findInventoryFile(fsys fs.FS, dir, key string) (string, error) {
	rest := strings.TrimLeft(key, "/")
	for {
		name := path.Join(dir, rest)
		if fs.ValidPath(name) && validPath(rest) {
			if _, err := fs.Stat(fsys, name); err == nil {
				return name, nil
			}
		}
		i := strings.IndexByte(rest, '/')
		if i < 0 {
			return "", fmt.Errorf("S3 Inventory data file %q not found below %s (download the data files beside manifest.json, keeping their keys)", key, dir)
		}
		rest = rest[i+1:]
	}
}

// readInventoryFile appends to hashes those of the narinfo keys directly
// under prefix in the inventory data file name.
func readInventoryFile(fsys fs.FS, name string, keyCol int, prefix string, hashes []string) ([]string, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return hashes, err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var r io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return hashes, err
		}
		defer zr.Close()
		r = zr
	}
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return hashes, nil
		}
		if err != nil {
			return hashes, err
		}
		if len(rec) <= keyCol {
			line, _ := cr.FieldPos(0)
			return hashes, fmt.Errorf("line %d: %d columns, the Key is column %d", line, len(rec), keyCol+1)
		}
		key, err := url.QueryUnescape(rec[keyCol])
		if err != nil {
			line, _ := cr.FieldPos(keyCol)
			return hashes, fmt.Errorf("line %d: key %q: %w", line, rec[keyCol], err)
		}
		if h, ok := narInfoKey(key, prefix); ok {
			hashes = append(hashes, h)
		}
	}
}

// narInfoKey returns the hash of key if it is <hash>.narinfo directly under
// prefix ("" or ending in "/").
func narInfoKey(key, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(key, prefix)
	if !ok {
		return "", false
	}
	h, ok := strings.CutSuffix(rest, ".narinfo")
	return h, ok && storepath.IsHash(h)
}
