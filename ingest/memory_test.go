package ingest_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nardedup/nardedup/internal/nargen"
	"github.com/nardedup/nardedup/internal/nixtest"
	"github.com/nardedup/nardedup/narfmt"
	"github.com/nardedup/nardedup/narfmt/narinfo"
)

// bigNARMiB is the size of the synthetic NAR of BenchmarkBigNAR, in MiB,
// unless NARDEDUP_BIGNAR_MIB says otherwise.
const bigNARMiB = 64

// Sizes of TestBigNARMemory: the NAR, and the bound on the peak RSS of
// its ingest. Pack buffers were garbage as soon as their pack was stored,
// and the collector let the heap grow to twice what they held: about
// 200 MiB at this size, and more with larger NARs, before they were
// reused outside the heap (about 100 MiB at any size).
const (
	memTestNAR    = 128 << 20
	memTestMaxRSS = 160 << 20
)

// TestBigNARMemory ingests a synthetic NAR of memTestNAR bytes in a
// child process with the runtime's own memory settings (GOGC and
// GOMEMLIMIT unset) and checks its peak RSS against memTestMaxRSS.
// BenchmarkBigNAR measures the larger sizes.
func TestBigNARMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nardedup and ingests a 128 MiB NAR")
	}
	bin := nixtest.Nardedup(t)
	nar := writeBigNAR(t, memTestNAR)
	cache := nar.cache(t, "none", ".nar")
	work := t.TempDir()
	cmd := exec.Command(bin, "ingest", "--repo", filepath.Join(work, "repo"),
		"--index-cache", filepath.Join(work, "cache"), cache)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOGC=") && !strings.HasPrefix(kv, "GOMEMLIMIT=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	u := runChild(t, cmd)
	t.Logf("peak RSS %.1f MiB, %.2f CPU seconds", u.peakMiB(), u.cpu.Seconds())
	if u.maxRSS > memTestMaxRSS {
		t.Errorf("ingest of a %d-byte NAR peaked at %.1f MiB of RSS, more than %d MiB",
			nar.size, u.peakMiB(), memTestMaxRSS>>20)
	}
}

// BenchmarkBigNAR ingests one synthetic NAR (package nargen; its size in
// MiB from NARDEDUP_BIGNAR_MIB, default bigNARMiB) with "nardedup
// ingest" from a nar.xz, a nar.zst and a plain nar, and pushes the nar.xz
// to "nardedup serve" with a PUT, each in a child process into a fresh
// repository. It reports the child's peak RSS (peak-MiB, and MiB-per-GiB
// of NAR), its CPU seconds (user and system) and, for xz, the CPU of
// "xz -dc" over the same file and the ratio of the two.
func BenchmarkBigNAR(b *testing.B) {
	mib := bigNARMiB
	if s := os.Getenv("NARDEDUP_BIGNAR_MIB"); s != "" {
		var err error
		if mib, err = strconv.Atoi(s); err != nil || mib <= 0 {
			b.Fatalf("NARDEDUP_BIGNAR_MIB=%q: want a size in MiB", s)
		}
	}
	nixtest.RequireTool(b, "xz")
	nixtest.RequireTool(b, "zstd")
	bin := nixtest.Nardedup(b)
	nar := writeBigNAR(b, int64(mib)<<20, ".nar.xz", ".nar.zst")
	gib := float64(nar.size) / (1 << 30)
	report := func(b *testing.B, u usage) {
		b.SetBytes(nar.size)
		b.ReportMetric(u.peakMiB(), "peak-MiB")
		b.ReportMetric(u.peakMiB()/gib, "MiB/GiB")
		b.ReportMetric(u.cpu.Seconds(), "cpu-s")
	}
	for _, c := range []struct{ name, compression, ext string }{
		{"xz", "xz", ".nar.xz"}, {"zst", "zstd", ".nar.zst"}, {"nar", "none", ".nar"},
	} {
		cache := nar.cache(b, c.compression, c.ext)
		b.Run("ingest-"+c.name, func(b *testing.B) {
			var u usage
			for i := 0; i < b.N; i++ {
				work := b.TempDir()
				u = runChild(b, exec.Command(bin, "ingest", "--repo", filepath.Join(work, "repo"),
					"--index-cache", filepath.Join(work, "cache"), cache))
			}
			report(b, u)
			if c.name == "xz" {
				dec := runChild(b, exec.Command("xz", "-dc", nar.files[c.ext].path))
				b.ReportMetric(dec.cpu.Seconds(), "xz-dc-cpu-s")
				b.ReportMetric(u.cpu.Seconds()/dec.cpu.Seconds(), "cpu/xz-dc")
			}
		})
	}
	b.Run("push-xz", func(b *testing.B) {
		var u usage
		for i := 0; i < b.N; i++ {
			u = nar.push(b, bin, ".nar.xz")
		}
		report(b, u)
	})
}

// bigNAR is a synthetic NAR written to disk plainly and compressed.
type bigNAR struct {
	dir   string
	size  int64
	hash  narfmt.Hash
	files map[string]narFile // by extension: ".nar", ".nar.xz", ".nar.zst"
}

type narFile struct {
	name string // <FileHash>.<ext>
	path string
	size int64
	hash narfmt.Hash
}

// writeBigNAR writes a synthetic NAR of about size bytes into a
// temporary directory, and its compressions of exts (".nar.xz",
// ".nar.zst").
func writeBigNAR(t testing.TB, size int64, exts ...string) *bigNAR {
	t.Helper()
	n := &bigNAR{dir: t.TempDir(), files: make(map[string]narFile)}
	plain := filepath.Join(n.dir, "plain.nar")
	f, err := os.Create(plain)
	must(t, err)
	h := sha256.New()
	cw := &countWriter{}
	must(t, nargen.Write(io.MultiWriter(f, h, cw), size, 1, "/nix/store"))
	must(t, f.Close())
	n.size, n.hash = cw.n, narfmt.Hash(h.Sum(nil))
	compress := map[string][]string{".nar.xz": {"xz", "-T2", "-3", "-c", plain}, ".nar.zst": {"zstd", "-T2", "-3", "-c", plain}}
	for _, ext := range append([]string{".nar"}, exts...) {
		cmd := compress[ext]
		path := plain
		if cmd != nil {
			path = plain + ext[len(".nar"):]
			out, err := os.Create(path)
			must(t, err)
			c := exec.Command(cmd[0], cmd[1:]...)
			var msg bytes.Buffer
			c.Stdout, c.Stderr = out, &msg
			if err := c.Run(); err != nil {
				t.Fatalf("%v: %v\n%s", cmd, err, msg.String())
			}
			must(t, out.Close())
		}
		nf := narFile{path: path}
		nf.hash, nf.size = hashFile(t, path)
		nf.name = nf.hash.String() + ext
		n.files[ext] = nf
	}
	return n
}

// narInfo returns the narinfo of the NAR stored as the file of ext.
func (n *bigNAR) narInfo(compression, ext string) []byte {
	f := n.files[ext]
	ni := narinfo.NarInfo{StorePath: "/nix/store/" + bigNARHash + "-big-nar", URL: "nar/" + f.name,
		Compression: compression, FileHash: "sha256:" + f.hash.String(), FileSize: uint64(f.size),
		NarHash: "sha256:" + n.hash.String(), NarSize: uint64(n.size), System: "x86_64-linux"}
	return []byte(ni.String())
}

const bigNARHash = "0c6kzph7l0dcbj9kmz6zmkd0ryyvbpz5"

// cache lays out a binary cache holding the NAR as the file of ext (a
// hard link) and returns its directory.
func (n *bigNAR) cache(t testing.TB, compression, ext string) string {
	t.Helper()
	dir := filepath.Join(n.dir, "cache"+ext)
	must(t, os.MkdirAll(filepath.Join(dir, "nar"), 0o755))
	f := n.files[ext]
	must(t, os.Link(f.path, filepath.Join(dir, "nar", f.name)))
	must(t, os.WriteFile(filepath.Join(dir, "nix-cache-info"), []byte("StoreDir: /nix/store\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, bigNARHash+".narinfo"), n.narInfo(compression, ext), 0o644))
	return dir
}

// push starts "nardedup serve" on a fresh repository, PUTs the NAR file
// of ext and its narinfo, stops the server and returns what it used.
func (n *bigNAR) push(t testing.TB, bin, ext string) usage {
	t.Helper()
	work := t.TempDir()
	token := filepath.Join(work, "token")
	must(t, os.WriteFile(token, []byte("big-nar-token\n"), 0o600))
	// An empty cache makes the repository.
	empty := filepath.Join(work, "empty")
	must(t, os.Mkdir(empty, 0o755))
	must(t, os.WriteFile(filepath.Join(empty, "nix-cache-info"), []byte("StoreDir: /nix/store\n"), 0o644))
	runChild(t, exec.Command(bin, "ingest", "--repo", filepath.Join(work, "repo"),
		"--index-cache", filepath.Join(work, "cache"), empty))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "serve", "--listen", addr, "--repo", filepath.Join(work, "repo"),
		"--index-cache", filepath.Join(work, "cache"), "--upload-token", token)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	must(t, cmd.Start())
	stop := watch(cmd)
	base := "http://" + addr
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(base + "/nix-cache-info"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("nardedup serve did not answer on %s:\n%s", addr, logs.String())
		}
	}
	put := func(path string, body io.Reader, size int64) {
		req, err := http.NewRequest(http.MethodPut, base+path, body)
		must(t, err)
		req.ContentLength = size
		req.Header.Set("Authorization", "Bearer big-nar-token")
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("PUT %s: %s: %s\n%s", path, resp.Status, msg, logs.String())
		}
	}
	f := n.files[ext]
	file, err := os.Open(f.path)
	must(t, err)
	defer file.Close()
	put("/nar/"+f.name, file, f.size)
	info := n.narInfo(map[string]string{".nar": "none", ".nar.xz": "xz", ".nar.zst": "zstd"}[ext], ext)
	put("/"+bigNARHash+".narinfo", bytes.NewReader(info), int64(len(info)))
	must(t, cmd.Process.Signal(os.Interrupt))
	if err := cmd.Wait(); err != nil {
		t.Fatalf("nardedup serve: %v\n%s", err, logs.String())
	}
	return stop()
}

// usage is what a child process used.
type usage struct {
	maxRSS int64 // bytes
	cpu    time.Duration
}

func (u usage) peakMiB() float64 { return float64(u.maxRSS) / (1 << 20) }

// watch follows the peak RSS of a started process until stop is called,
// which returns it with the CPU time the process used once it has been
// waited for. The peak is read from /proc (VmHWM) every few milliseconds:
// the ru_maxrss of wait4 is no use, since Linux carries it over an exec
// from the parent, whose RSS it then reports.
func watch(cmd *exec.Cmd) (stop func() usage) {
	path := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
	done := make(chan struct{})
	peak := make(chan int64)
	go func() {
		var max int64
		for {
			if kib := vmHWM(path); kib > max {
				max = kib
			}
			select {
			case <-done:
				peak <- max << 10
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return func() usage {
		close(done)
		return usage{maxRSS: <-peak, cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}
	}
}

// vmHWM returns the VmHWM line of a /proc/PID/status file in KiB, 0 if
// there is none (the process has ended).
func vmHWM(path string) int64 {
	b, _ := os.ReadFile(path)
	_, rest, ok := bytes.Cut(b, []byte("VmHWM:"))
	if !ok {
		return 0
	}
	line, _, _ := bytes.Cut(rest, []byte("\n"))
	kib, _ := strconv.ParseInt(string(bytes.TrimSuffix(bytes.TrimSpace(line), []byte(" kB"))), 10, 64)
	return kib
}

// runChild runs cmd to its end and returns what it used.
func runChild(t testing.TB, cmd *exec.Cmd) usage {
	t.Helper()
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &logs
	must(t, cmd.Start())
	stop := watch(cmd)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v: %v\n%s", cmd.Args, err, logs.String())
	}
	return stop()
}

func hashFile(t testing.TB, path string) (narfmt.Hash, int64) {
	t.Helper()
	f, err := os.Open(path)
	must(t, err)
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	must(t, err)
	return narfmt.Hash(h.Sum(nil)), n
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}
