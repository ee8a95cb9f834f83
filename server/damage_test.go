package server_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/narfmt/nixbase32"
	"github.com/nardedup/nardedup/server"
)

// logBuffer collects a server's log; it is safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func loggingOptions() (server.Options, *logBuffer) {
	buf := &logBuffer{}
	return server.Options{Logger: slog.New(slog.NewTextHandler(buf, nil))}, buf
}

// flipByte flips one bit of the byte at offset frac of the object key.
func (r *repo) flipByte(t *testing.T, key string, frac float64) {
	t.Helper()
	ctx := context.Background()
	data, err := backend.ReadAll(ctx, r.be, key)
	check(t, err)
	data[int(float64(len(data))*frac)] ^= 0x10
	check(t, backend.PutBytes(ctx, r.be, key, data))
}

// residueChunks returns the chunks of NAR name's residue, in order.
func (r *repo) residueChunks(t *testing.T, name string) []chunkstore.ID {
	t.Helper()
	ctx := context.Background()
	digest, err := nixbase32.DecodeString(name)
	check(t, err)
	m, err := r.st.Manifest(ctx, [32]byte(digest))
	check(t, err)
	var ids []chunkstore.ID
	check(t, r.st.ResidueChunks(ctx, m, func(ref chunkstore.Ref) error {
		ids = append(ids, ref.ID)
		return nil
	}))
	return ids
}

// damageResidue flips a byte in the pack frame holding the residue chunk
// at fraction frac of NAR name's residue.
func (r *repo) damageResidue(t *testing.T, name string, frac float64) {
	t.Helper()
	ids := r.residueChunks(t, name)
	loc, err := r.rp.Chunks().Lookup(context.Background(), ids[int(float64(len(ids)-1)*frac)])
	check(t, err)
	ctx := context.Background()
	key := chunkstore.PackKey(loc.Pack)
	data, err := backend.ReadAll(ctx, r.be, key)
	check(t, err)
	data[loc.FrameOffset+int64(loc.FrameCLen)/2] ^= 0x10
	check(t, backend.PutBytes(ctx, r.be, key, data))
}

// checkNoCompleteNAR fails unless GET url gave an error status or a
// truncated body.
func checkNoCompleteNAR(t *testing.T, url string, size uint64) {
	t.Helper()
	resp, body, err := fetch(t, http.MethodGet, url)
	if resp.StatusCode != http.StatusOK {
		if resp.StatusCode != http.StatusInternalServerError {
			t.Errorf("GET %s: got status %d; want 200 (truncated) or 500", url, resp.StatusCode)
		}
		return
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("GET %s: got body error %v; want io.ErrUnexpectedEOF or a reset", url, err)
	}
	if uint64(len(body)) >= size {
		t.Errorf("GET %s: got %d bytes; want fewer than NarSize %d", url, len(body), size)
	}
}

func TestDamagedPack(t *testing.T) {
	r := newRepo(t)
	opts, log := loggingOptions()
	ts := r.serve(t, opts)
	u := r.largest(t)
	r.damageResidue(t, narName(t, u.ni), 1)
	checkNoCompleteNAR(t, ts.URL+"/nar/"+narName(t, u.ni)+".nar", u.ni.NarSize)
	if name := narName(t, u.ni); !strings.Contains(log.String(), name) {
		t.Errorf("server log does not name NAR %s:\n%s", name, log)
	}
}

// TestDamagedPackMidNAR damages a NAR after its first megabytes have been
// sent: the response must be cut short.
func TestDamagedPackMidNAR(t *testing.T) {
	r := newRepo(t)
	nar, name := r.putBigNAR(t, 12<<20)
	r.damageResidue(t, name, 0.5)
	opts, log := loggingOptions()
	ts := r.serve(t, opts)
	url := ts.URL + "/nar/" + name + ".nar"
	resp, body, err := fetch(t, http.MethodGet, url)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: got status %d; want 200 then a truncated body", url, resp.StatusCode)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("GET %s: got body error %v; want io.ErrUnexpectedEOF or a reset", url, err)
	}
	if len(body) == 0 || len(body) >= len(nar) {
		t.Errorf("GET %s: got %d bytes; want some but fewer than %d", url, len(body), len(nar))
	}
	if !bytes.HasPrefix(nar, body) {
		t.Errorf("GET %s: the bytes sent before the damage differ from the NAR", url)
	}
	if l := log.String(); !strings.Contains(l, "NAR aborted") || !strings.Contains(l, name) {
		t.Errorf("server log does not report NAR %s aborted:\n%s", name, l)
	}
}

func TestMissingManifest(t *testing.T) {
	r := newRepo(t)
	opts, log := loggingOptions()
	ts := r.serve(t, opts)
	u := r.largest(t)
	name := narName(t, u.ni)
	check(t, r.be.Delete(context.Background(), "manifests/"+name))
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		for _, target := range []string{"/" + u.hash + ".narinfo", "/nar/" + name + ".nar"} {
			resp, _, _ := fetch(t, method, ts.URL+target)
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("%s %s without its manifest: got status %d; want 404", method, target, resp.StatusCode)
			}
		}
	}
	if !strings.Contains(log.String(), u.hash) {
		t.Errorf("server log does not name narinfo %s:\n%s", u.hash, log)
	}
}

func TestCorruptManifest(t *testing.T) {
	r := newRepo(t)
	opts, log := loggingOptions()
	ts := r.serve(t, opts)
	u := r.largest(t)
	name := narName(t, u.ni)
	key := "manifests/" + name
	for _, damage := range []func(){
		func() { r.flipByte(t, key, 0) },
		func() { check(t, backend.PutBytes(context.Background(), r.be, key, []byte("NDMF"))) },
	} {
		damage()
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			resp, body, _ := fetch(t, method, ts.URL+"/nar/"+name+".nar")
			if resp.StatusCode != http.StatusInternalServerError {
				t.Errorf("%s NAR with a damaged manifest: got status %d, %d bytes; want 500", method, resp.StatusCode, len(body))
			}
		}
	}
	if !strings.Contains(log.String(), name) {
		t.Errorf("server log does not name NAR %s:\n%s", name, log)
	}
}

func TestMissingPack(t *testing.T) {
	r := newRepo(t)
	opts, log := loggingOptions()
	ts := r.serve(t, opts)
	for _, key := range r.keys(t, "packs/") {
		check(t, r.be.Delete(context.Background(), key))
	}
	for _, u := range r.upstream(t) {
		checkNoCompleteNAR(t, ts.URL+"/nar/"+narName(t, u.ni)+".nar", u.ni.NarSize)
	}
	if u := r.largest(t); !strings.Contains(log.String(), narName(t, u.ni)) {
		t.Errorf("server log does not name NAR %s:\n%s", narName(t, u.ni), log)
	}
}

func TestDamagedNarInfo(t *testing.T) {
	r := newRepo(t)
	opts, log := loggingOptions()
	ts := r.serve(t, opts)
	infos := r.upstream(t)
	a, b := infos[0], infos[1]
	ctx := context.Background()
	// b's key holds a's narinfo, c's holds garbage.
	check(t, backend.PutBytes(ctx, r.be, "narinfo/"+b.hash+".narinfo", a.text))
	c := infos[2]
	check(t, backend.PutBytes(ctx, r.be, "narinfo/"+c.hash+".narinfo", []byte("StorePath: x\n")))
	for _, hash := range []string{b.hash, c.hash} {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			resp, body, _ := fetch(t, method, ts.URL+"/"+hash+".narinfo")
			if resp.StatusCode != http.StatusInternalServerError {
				t.Errorf("%s damaged narinfo %s: got status %d\n%s; want 500", method, hash, resp.StatusCode, body)
			}
		}
		if !strings.Contains(log.String(), hash) {
			t.Errorf("server log does not name narinfo %s:\n%s", hash, log)
		}
	}
}
