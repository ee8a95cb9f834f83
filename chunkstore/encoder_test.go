package chunkstore_test

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend/mem"
)

// TestEncoders writes the same data with each encoder and level and reads
// it back; the levels must make a difference in size, or the setting would
// not reach the encoder.
func TestEncoders(t *testing.T) {
	// Compressible but not trivially: words drawn from random data.
	words := bytes.Fields(bytes.Map(func(r rune) rune {
		if r%7 == 0 {
			return ' '
		}
		return 'a' + r%26
	}, randomData(1, 1<<16)))
	var data []byte
	rnd := randomData(2, 1<<20)
	for i := 0; len(data) < 1<<20; i++ {
		data = append(data, words[int(rnd[i])*len(words)/256]...)
		data = append(data, ' ')
	}
	sizes := make(map[string]int64)
	for _, tc := range []struct {
		encoder string
		level   int
	}{
		{chunkstore.EncoderLibzstd, 1},
		{chunkstore.EncoderLibzstd, 4},
		{chunkstore.EncoderLibzstd, 12},
		{chunkstore.EncoderKlauspost, 1},
		{chunkstore.EncoderKlauspost, 4},
		{"", 3}, // a repository made before the encoder was recorded
	} {
		name := tc.encoder + "-" + string(rune('0'+tc.level/10)) + string(rune('0'+tc.level%10))
		t.Run(name, func(t *testing.T) {
			be := mem.New()
			cfg := testConfig()
			cfg.Encoder, cfg.ZstdLevel = tc.encoder, tc.level
			s := openStoreWith(t, be, cfg, filepath.Join(t.TempDir(), "index"))
			defer s.Close()
			refs, res := write(t, s, data)
			got, err := readAll(t, s, refs)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("read back %d bytes (%v), want %d", len(got), err, len(data))
			}
			if res.StoredBytes <= 0 || res.StoredBytes >= int64(len(data))/2 {
				t.Errorf("stored %d of %d bytes", res.StoredBytes, len(data))
			}
			sizes[name] = res.StoredBytes
			t.Logf("%d -> %d bytes", len(data), res.StoredBytes)
		})
	}
	if chunkstore.HasLibzstd && sizes["libzstd-12"] >= sizes["libzstd-01"] {
		t.Errorf("libzstd level 12 stored %d bytes, level 1 %d", sizes["libzstd-12"], sizes["libzstd-01"])
	}
	if sizes["klauspost-04"] >= sizes["klauspost-01"] {
		t.Errorf("klauspost level 4 stored %d bytes, level 1 %d", sizes["klauspost-04"], sizes["klauspost-01"])
	}
}

func TestConfigEncoder(t *testing.T) {
	if d := chunkstore.DefaultConfig(); d.Encoder != chunkstore.EncoderLibzstd {
		t.Errorf("new repositories use encoder %q", d.Encoder)
	}
	for _, tc := range []struct {
		encoder string
		level   int
		bad     string
	}{
		{chunkstore.EncoderLibzstd, 0, "out of range"},
		{chunkstore.EncoderLibzstd, 22, ""},
		{chunkstore.EncoderLibzstd, 23, "out of range"},
		{chunkstore.EncoderKlauspost, 4, ""},
		{chunkstore.EncoderKlauspost, 5, "out of range"},
		{"", 5, "out of range"},
		{"gzip", 3, "unknown encoder"},
	} {
		cfg := testConfig()
		cfg.Encoder, cfg.ZstdLevel = tc.encoder, tc.level
		err := cfg.Validate()
		if tc.bad == "" && err != nil || tc.bad != "" && (err == nil || !strings.Contains(err.Error(), tc.bad)) {
			t.Errorf("encoder %q level %d: %v, want %q", tc.encoder, tc.level, err, tc.bad)
		}
	}
}
