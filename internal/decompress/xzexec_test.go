package decompress_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nardedup/nardedup/internal/decompress"
	"github.com/nardedup/nardedup/internal/nixtest"
)

// reaped waits until pid is gone: no process, not even a zombie.
func reaped(t *testing.T, pid int) {
	t.Helper()
	if pid == 0 {
		t.Fatal("not an xz-exec stream")
	}
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			state, _ := os.ReadFile(filepath.Join("/proc", itoa(pid), "stat"))
			t.Fatalf("xz process %d still exists: %s", pid, state)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// settleGoroutines waits for the goroutine count to drop to at most n.
func settleGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, want <= %d:\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func execXZ(t *testing.T) decompress.XZDecoder {
	nixtest.RequireTool(t, "xz")
	return decompress.ExecXZ(xzPath())
}

func TestXZExecReapedAfterClose(t *testing.T) {
	dec := execXZ(t)
	comp := compress(t, formats()[0], sample(t))
	before := runtime.NumGoroutine()
	for _, name := range []string{"unread", "partly read", "fully read", "corrupt"} {
		in := comp
		if name == "corrupt" {
			in = comp[:len(comp)/2]
		}
		// A pipe, not a bytes.Reader, exercises the feeding goroutine.
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(copyAll(pw, in)) }()
		rc, err := dec.NewReader(context.Background(), pr)
		if err != nil {
			t.Fatal(err)
		}
		pid := decompress.XZPid(rc)
		switch name {
		case "partly read":
			io.ReadFull(rc, make([]byte, 5000))
		case "fully read", "corrupt":
			_, err := io.Copy(io.Discard, rc)
			if (err != nil) != (name == "corrupt") {
				t.Errorf("%s: read error %v", name, err)
			}
		}
		if err := rc.Close(); err != nil {
			t.Errorf("%s: Close: %v", name, err)
		}
		reaped(t, pid)
		if _, err := rc.Read(make([]byte, 10)); err == nil {
			t.Errorf("%s: Read after Close succeeded", name)
		}
		pr.Close()
	}
	settleGoroutines(t, before)
}

func copyAll(w io.Writer, b []byte) error { _, err := w.Write(b); return err }

func TestXZExecCanceled(t *testing.T) {
	dec := execXZ(t)
	comp := compress(t, formats()[0], sample(t))
	before := runtime.NumGoroutine()
	// The input stalls after half the stream: xz blocks reading stdin.
	pr, pw := io.Pipe()
	go pw.Write(comp[:len(comp)/2])
	ctx, cancel := context.WithCancel(context.Background())
	rc, err := dec.NewReader(ctx, pr)
	if err != nil {
		t.Fatal(err)
	}
	pid := decompress.XZPid(rc)
	if _, err := io.ReadFull(rc, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err = io.Copy(io.Discard, rc)
	if !errors.Is(err, context.Canceled) || time.Since(start) > 5*time.Second {
		t.Errorf("read after cancel: %v after %v, want context.Canceled at once", err, time.Since(start))
	}
	reaped(t, pid) // killed and reaped by the read that saw it die
	rc.Close()
	pw.CloseWithError(errors.New("input abandoned")) // unblocks the feeder's Read
	settleGoroutines(t, before)
}

func TestXZExecInputError(t *testing.T) {
	dec := execXZ(t)
	comp := compress(t, formats()[0], sample(t))
	boom := errors.New("network went away")
	r := io.MultiReader(bytes.NewReader(comp[:len(comp)/2]), errReader{boom})
	rc, err := dec.NewReader(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.Copy(io.Discard, rc); !errors.Is(err, boom) {
		t.Errorf("got %v, want the input's error", err)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestXZExecStderrInError(t *testing.T) {
	dec := execXZ(t)
	rc, err := dec.NewReader(context.Background(), strings.NewReader("definitely not xz data"))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	_, err = io.Copy(io.Discard, rc)
	if err == nil || !strings.Contains(err.Error(), "File format not recognized") {
		t.Errorf("got %v, want xz's message", err)
	}
}

func TestDefaultXZ(t *testing.T) {
	d := decompress.DefaultXZ()
	_, lib := decompress.LibXZ()
	_, xzErr := os.Stat("/usr/bin/xz")
	switch {
	case lib && d.Name != "xz-lib":
		t.Errorf("DefaultXZ = %v although liblzma can be loaded", d)
	case !lib && xzErr == nil && d.Name != "xz-exec":
		t.Errorf("DefaultXZ = %v although xz is installed", d)
	}
	if runtime.GOOS == "linux" && xzErr == nil && !lib && cgoOn {
		t.Error("xz is installed but liblzma.so.5, which it links, cannot be loaded")
	}
	if !strings.HasPrefix(d.String(), d.Name) {
		t.Errorf("String() = %q", d.String())
	}
}
