package narstore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/mem"
	"github.com/nardedup/nardedup/narstore"
	"github.com/nardedup/nardedup/repo/layout"
)

const logDrv = "0apnlz8jhs8s3wyagsncrsq0mlj0v822-libpsl-0.21.2.drv"

// failingReader yields data, then err.
type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

// TestLog stores a build log compressed, reads it back byte for byte,
// and checks that a log cut off while it is put leaves the earlier one
// and that a damaged one fails as corrupt.
func TestLog(t *testing.T) {
	ctx := context.Background()
	be := mem.New()
	s := newStore(t, be)
	text := []byte(strings.Repeat("checking for gcc... gcc\n", 20000))
	n, err := s.PutLog(ctx, logDrv, bytes.NewReader(text))
	must(t, err)
	if n != int64(len(text)) {
		t.Errorf("PutLog: %d bytes, want %d", n, len(text))
	}
	key := layout.LogOf(logDrv).Key()
	fi, err := be.Stat(ctx, key)
	must(t, err)
	if fi.Size*4 > int64(len(text)) {
		t.Errorf("log stored in %d bytes, not compressed (%d)", fi.Size, len(text))
	}
	readLog := func() ([]byte, error) {
		rc, err := s.OpenLog(ctx, logDrv)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		return io.ReadAll(rc)
	}
	got, err := readLog()
	if err != nil || !bytes.Equal(got, text) {
		t.Fatalf("OpenLog: %d bytes (%v), want %d", len(got), err, len(text))
	}

	cut := errors.New("client went away")
	if _, err := s.PutLog(ctx, logDrv, &failingReader{data: []byte("another log\n"), err: cut}); !errors.Is(err, cut) {
		t.Errorf("PutLog of a cut stream: %v, want %v", err, cut)
	}
	if got, err := readLog(); err != nil || !bytes.Equal(got, text) {
		t.Errorf("after a cut PutLog: %d bytes (%v), want the earlier log", len(got), err)
	}

	if _, err := s.PutLog(ctx, "../config", strings.NewReader("x")); !errors.Is(err, narstore.ErrBadName) {
		t.Errorf("PutLog(../config): %v, want ErrBadName", err)
	}
	if _, err := s.OpenLog(ctx, "1bpnlz8jhs8s3wyagsncrsq0mlj0v822-none.drv"); !errors.Is(err, narstore.ErrNotFound) {
		t.Errorf("OpenLog of a missing log: %v, want ErrNotFound", err)
	}
	must(t, backend.PutBytes(ctx, be, key, []byte("\x28\xb5\x2f\xfdnot zstd after all")))
	if _, err := readLog(); !errors.Is(err, narstore.ErrCorrupt) {
		t.Errorf("OpenLog of a damaged log: %v, want ErrCorrupt", err)
	}
	var drvs []string
	must(t, s.ListLogs(ctx, func(drv string) error { drvs = append(drvs, drv); return nil }))
	if len(drvs) != 1 || drvs[0] != logDrv {
		t.Errorf("ListLogs: %v", drvs)
	}
}

// TestSmallLog checks that a log too short to gain from compression is
// kept as it came, and that one which looks compressed still reads back
// as it was put.
func TestSmallLog(t *testing.T) {
	ctx := context.Background()
	be := mem.New()
	s := newStore(t, be)
	for _, text := range []string{"", "one line\n", "\x28\xb5\x2f\xfd is the zstd magic"} {
		_, err := s.PutLog(ctx, logDrv, strings.NewReader(text))
		must(t, err)
		rc, err := s.OpenLog(ctx, logDrv)
		must(t, err)
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(got) != text {
			t.Errorf("log %q read back as %q (%v)", text, got, err)
		}
	}
	must(t, func() error { _, err := s.PutLog(ctx, logDrv, strings.NewReader("one line\n")); return err }())
	if fi, err := be.Stat(ctx, layout.LogOf(logDrv).Key()); err != nil || fi.Size != int64(len("one line\n")) {
		t.Errorf("a one-line log is stored in %d bytes (%v), not as it came", fi.Size, err)
	}
}

func TestRealisation(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, mem.New())
	id := "sha256:" + strings.Repeat("0f", 32) + "!out"
	text := []byte(`{"id":"` + id + `","outPath":"x"}`)
	must(t, s.PutRealisation(ctx, id, text))
	got, err := s.Realisation(ctx, id)
	if err != nil || !bytes.Equal(got, text) {
		t.Errorf("Realisation: %q (%v), want %q", got, err, text)
	}
	for _, bad := range []string{"sha256:0f!out", "md5:" + strings.Repeat("0f", 32) + "!out", "sha256:" + strings.Repeat("0F", 32) + "!out", "sha256:" + strings.Repeat("0f", 32) + "!a/b", "sha256:" + strings.Repeat("0f", 32)} {
		if err := s.PutRealisation(ctx, bad, text); !errors.Is(err, narstore.ErrBadName) {
			t.Errorf("PutRealisation(%q): %v, want ErrBadName", bad, err)
		}
	}
	if err := s.PutRealisation(ctx, id, []byte("[1]")); !errors.Is(err, narstore.ErrBadName) {
		t.Errorf("PutRealisation of a JSON array: %v, want an error", err)
	}
}
