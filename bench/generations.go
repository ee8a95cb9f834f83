package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/nardedup/nardedup/narfmt/narinfo"
	"github.com/nardedup/nardedup/source"
)

// CorpusInfo describes a make-bucket corpus directory.
type CorpusInfo struct {
	Dir         string         `json:"dir"`
	Generations int            `json:"generations"`
	Params      map[string]any `json:"params,omitempty"` // manifest.json "params"
}

// CorpusGenerations returns the generations of a make-bucket corpus: the
// standalone caches DIR/gen-1, DIR/gen-2, … in order.
func CorpusGenerations(dir string) ([]Generation, *CorpusInfo, error) {
	info := &CorpusInfo{Dir: dir}
	var gens []Generation
	for k := 1; ; k++ {
		name := "gen-" + strconv.Itoa(k)
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			break
		}
		src, err := source.Open(filepath.Join(dir, name))
		if err != nil {
			return nil, nil, fmt.Errorf("bench: corpus %s: %w", dir, err)
		}
		gens = append(gens, Generation{Name: name, Source: src})
	}
	if len(gens) == 0 {
		return nil, nil, fmt.Errorf("bench: %s has no gen-1 directory (not a make-bucket corpus)", dir)
	}
	info.Generations = len(gens)
	data, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err == nil {
		var m struct {
			Params map[string]any `json:"params"`
		}
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, nil, fmt.Errorf("bench: %s/manifest.json: %w", dir, err)
		}
		info.Params = m.Params
	} else if !os.IsNotExist(err) {
		return nil, nil, fmt.Errorf("bench: %w", err)
	}
	return gens, info, nil
}

// entry is one narinfo of a generation.
type entry struct {
	Hash        string // store path hash part
	Text        []byte
	URL         string
	Compression string
	NarHash     string
	NarSize     int64
	FileSize    int64
}

// scan reads every narinfo of src, in listing order.
func scan(ctx context.Context, src source.Source, storeDir string) ([]entry, error) {
	var out []entry
	err := src.List(ctx, func(h string) error {
		text, err := src.NarInfo(ctx, h)
		if err != nil {
			return err
		}
		ni, err := narinfo.ParseStoreDir(bytes.NewReader(text), storeDir)
		if err != nil {
			return fmt.Errorf("narinfo %s: %w", h, err)
		}
		out = append(out, entry{Hash: h, Text: text, URL: ni.URL, Compression: ni.Compression,
			NarHash: ni.NarHash, NarSize: int64(ni.NarSize), FileSize: int64(ni.FileSize)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("bench: scan %s: %w", src, err)
	}
	return out, nil
}

// sums is the NAR and compressed file bytes of a set of narinfos.
type sums struct {
	Paths    int   `json:"paths"`
	NarBytes int64 `json:"nar_bytes"` // sum of NarSize
	XZBytes  int64 `json:"xz_bytes"`  // sum of FileSize
}

func sumOf(es []entry) sums {
	s := sums{Paths: len(es)}
	for _, e := range es {
		s.NarBytes += e.NarSize
		s.XZBytes += e.FileSize
	}
	return s
}
