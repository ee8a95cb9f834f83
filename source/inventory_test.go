package source_test

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/nardedup/nardedup/narfmt/storepath"
	"github.com/nardedup/nardedup/source"
)

const (
	hashA = "0aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	hashB = "1bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	hashC = "2ccccccccccccccccccccccccccccccc"
)

const schema = "Bucket, Key, Size, LastModifiedDate"

// manifest returns an S3 Inventory manifest.json listing the data files
// keys.
func manifest(format, schema string, keys ...string) []byte {
	var files []string
	for _, k := range keys {
		files = append(files, `{"key": "`+k+`", "size": 1, "MD5checksum": "x"}`)
	}
	return []byte(`{"sourceBucket": "cache", "destinationBucket": "arn:aws:s3:::inv", "version": "2016-11-30",
  "fileFormat": "` + format + `", "fileSchema": "` + schema + `",
  "files": [` + strings.Join(files, ",") + `]}`)
}

// csvRows returns inventory rows of bucket "cache" for keys.
func csvRows(keys ...string) []byte {
	var b bytes.Buffer
	for _, k := range keys {
		b.WriteString(`"cache","` + k + `","123","2024-01-01T00:00:00.000Z"` + "\n")
	}
	return b.Bytes()
}

func gzipped(data []byte) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(data)
	zw.Close()
	return b.Bytes()
}

func TestReadInventory(t *testing.T) {
	rows := csvRows(hashB+".narinfo", hashA+".narinfo", "nar/"+hashC+".narinfo", "nix-cache-info",
		"nar/abc.nar.xz", "x/"+hashC+".narinfo", "x%2F"+hashB+".narinfo", "x/y/"+hashA+".narinfo", "short.narinfo")
	dataKey := "inv/cache/all/data/f1.csv.gz"
	for _, tc := range []struct {
		name   string
		fsys   fstest.MapFS
		prefix string
		want   []string
		err    string
	}{
		{name: "root, full key", fsys: fstest.MapFS{
			"m/manifest.json": {Data: manifest("CSV", schema, dataKey)},
			"m/" + dataKey:    {Data: gzipped(rows)},
		}, want: []string{hashA, hashB}},
		{name: "data beside the manifest", fsys: fstest.MapFS{
			"m/manifest.json":  {Data: manifest("CSV", schema, dataKey)},
			"m/data/f1.csv.gz": {Data: gzipped(rows)},
		}, want: []string{hashA, hashB}},
		{name: "file in the manifest's directory, not gzipped", fsys: fstest.MapFS{
			"m/manifest.json": {Data: manifest("CSV", schema, dataKey)},
			"m/f1.csv.gz":     {Data: rows},
		}, want: []string{hashA, hashB}},
		{name: "prefix, URL-encoded keys", fsys: fstest.MapFS{
			"m/manifest.json": {Data: manifest("CSV", schema, dataKey)},
			"m/" + dataKey:    {Data: gzipped(rows)},
		}, prefix: "/x/", want: []string{hashB, hashC}},
		{name: "two files, duplicates, other column order", fsys: fstest.MapFS{
			"m/manifest.json": {Data: manifest("CSV", "Key, Bucket", "d/1.csv", "d/2.csv")},
			"m/d/1.csv":       {Data: []byte(hashC + ".narinfo,cache\n" + hashA + ".narinfo,cache\n")},
			"m/d/2.csv":       {Data: []byte(hashA + ".narinfo,cache\n")},
		}, want: []string{hashA, hashC}},
		{name: "missing data file", fsys: fstest.MapFS{
			"m/manifest.json": {Data: manifest("CSV", schema, dataKey)},
			"other/f1.csv.gz": {Data: gzipped(rows)},
		}, err: "not found"},
		{name: "key escapes", fsys: fstest.MapFS{
			"m/manifest.json": {Data: manifest("CSV", schema, "../f1.csv")},
			"f1.csv":          {Data: rows},
		}, err: "not found"},
		{name: "ORC", fsys: fstest.MapFS{
			"m/manifest.json": {Data: manifest("ORC", schema, dataKey)},
		}, err: "only CSV"},
		{name: "no Key column", fsys: fstest.MapFS{
			"m/manifest.json": {Data: manifest("CSV", "Bucket, Size", dataKey)},
		}, err: "Bucket and Key"},
		{name: "no files", fsys: fstest.MapFS{
			"m/manifest.json": {Data: manifest("CSV", schema)},
		}, err: "no files"},
		{name: "not JSON", fsys: fstest.MapFS{
			"m/manifest.json": {Data: []byte("{nope")},
		}, err: "not an S3 Inventory manifest"},
		{name: "bad escape", fsys: fstest.MapFS{
			"m/manifest.json": {Data: manifest("CSV", schema, "f.csv")},
			"m/f.csv":         {Data: csvRows(hashA + "%zz.narinfo")},
		}, err: "line 1"},
		{name: "short row", fsys: fstest.MapFS{
			"m/manifest.json": {Data: manifest("CSV", schema, "f.csv")},
			"m/f.csv":         {Data: []byte("cache\n")},
		}, err: "line 1: 1 columns"},
		{name: "nothing under the prefix", fsys: fstest.MapFS{
			"m/manifest.json": {Data: manifest("CSV", schema, dataKey)},
			"m/" + dataKey:    {Data: gzipped(rows)},
		}, prefix: "cache", err: "no <hash>.narinfo keys"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := source.ReadInventory(tc.fsys, "m/manifest.json", tc.prefix)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, %v; want an error with %q", got, err, tc.err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

// TestReadList reads a plain list and an inventory from files.
func TestReadList(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	plain := write("paths", []byte("\n# a comment\n/nix/store/"+hashB+"-hello-2.12\n"+hashA+"\n"+hashC+".narinfo\n"+hashA+"\n"))
	inv := write("inv/manifest.json", append([]byte("\n  "), manifest("CSV", schema, "inv/cache/cfg/data/f.csv.gz")...))
	write("inv/inv/cache/cfg/data/f.csv.gz", gzipped(csvRows("c/"+hashC+".narinfo", "c/"+hashA+".narinfo", hashB+".narinfo")))
	bad := write("bad", []byte(hashA+"\n\nnot-a-path\n"))
	for _, tc := range []struct {
		name, prefix string
		want         []string
		err          string
	}{
		{name: plain, want: []string{hashA, hashB, hashC}},
		{name: plain, prefix: "ignored", want: []string{hashA, hashB, hashC}},
		{name: inv, prefix: "c", want: []string{hashA, hashC}},
		{name: inv, want: []string{hashB}},
		{name: bad, err: "line 3"},
		{name: filepath.Join(dir, "missing"), err: "no such file"},
	} {
		got, err := source.ReadList(tc.name, tc.prefix)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ReadList(%s) = %v, %v; want an error with %q", tc.name, got, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ReadList(%s, %q) = %v, %v; want %v", tc.name, tc.prefix, got, err, tc.want)
		}
	}
}

// FuzzReadInventory feeds arbitrary manifests and data files to
// ReadInventory: it must not panic, and what it returns must be sorted,
// distinct store path hashes.
func FuzzReadInventory(f *testing.F) {
	f.Add(manifest("CSV", schema, "inv/data/f.csv"), csvRows(hashA+".narinfo", "p/"+hashB+".narinfo"), "p")
	f.Add(manifest("CSV", "Key, Bucket", "f.csv"), []byte(hashA+".narinfo,x\n\"a,b\",\"c\"\"d\"\n"), "")
	f.Add(manifest("CSV", schema, "f.csv"), gzipped(csvRows(hashC+"%2Enarinfo")), "/")
	f.Fuzz(func(t *testing.T, man, data []byte, prefix string) {
		fsys := fstest.MapFS{
			"m/manifest.json": {Data: man},
			"m/data/f.csv":    {Data: data},
			"m/f.csv":         {Data: data},
		}
		hashes, err := source.ReadInventory(fsys, "m/manifest.json", prefix)
		if err != nil {
			return
		}
		for i, h := range hashes {
			if !storepath.IsHash(h) || i > 0 && hashes[i-1] >= h {
				t.Fatalf("hash %d of %q: not a sorted distinct store path hash", i, hashes)
			}
		}
	})
}
