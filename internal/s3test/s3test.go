// Package s3test runs a real S3-compatible server, versitygw, for tests:
// a private process on a free loopback port with a temporary data
// directory and test credentials, stopped when the test ends.
//
// The binary is found through the NARDEDUP_S3_SERVER environment variable,
// then PATH, then $(go env GOPATH)/bin; .ci/install installs it with
//
//	go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
//
// Without it a test is skipped, or fails under CI (CI set), so a machine
// that lost its install step cannot pass by skipping.
package s3test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nardedup/nardedup/chunkstore/backend/s3"
)

// Test credentials of every server.
const (
	AccessKey = "nardeduptest"
	SecretKey = "nardeduptestsecret"
)

// Server is a running versitygw.
type Server struct {
	// Endpoint is HOST:PORT of the server, for the s3:// URL.
	Endpoint string
	bin      string
	dataDir  string
	logPath  string
	proc     *os.Process
	done     chan struct{}
	buckets  atomic.Int64
}

// Binary returns the path of the versitygw binary, or "" if none is found.
func Binary() string {
	if p := os.Getenv("NARDEDUP_S3_SERVER"); p != "" {
		return p
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	gopath := os.Getenv("GOPATH")
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		gopath = strings.TrimSpace(string(out))
	}
	for _, dir := range filepath.SplitList(gopath) {
		p := filepath.Join(dir, "bin", "versitygw")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// Start starts a server for t and stops it when t ends. It skips t when
// no binary is found, or fails it under CI.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Binary()
	if bin == "" {
		why := "versitygw not found (set NARDEDUP_S3_SERVER or run .ci/install)"
		if os.Getenv("CI") != "" {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	dir := t.TempDir()
	s := &Server{
		Endpoint: FreeAddr(t), bin: bin,
		dataDir: filepath.Join(dir, "data"), logPath: filepath.Join(dir, "server.log"),
	}
	if err := os.Mkdir(s.dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			logs, _ := os.ReadFile(s.logPath)
			t.Logf("versitygw log (last 4 KiB):\n%s", tail(logs, 4096))
		}
	})
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	return s
}

// FreeAddr returns a loopback address with a port that was free just now.
func FreeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Restart starts the server process (again) on the same address and data
// directory and waits until it accepts connections.
func (s *Server) Restart() error {
	if s.proc != nil {
		return fmt.Errorf("s3test: server already running")
	}
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(s.bin, "--access", AccessKey, "--secret", SecretKey,
		"--port", s.Endpoint, "--keep-alive", "--quiet", "posix", s.dataDir)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("s3test: start %s: %w", s.bin, err)
	}
	s.proc, s.done = cmd.Process, make(chan struct{})
	go func(done chan struct{}) { cmd.Wait(); close(done) }(s.done)
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		if c, err := net.DialTimeout("tcp", s.Endpoint, time.Second); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-s.done:
			s.proc = nil
			return fmt.Errorf("s3test: %s exited at start (see %s)", s.bin, s.logPath)
		case <-time.After(20 * time.Millisecond):
		}
	}
	s.Stop()
	return fmt.Errorf("s3test: %s did not listen on %s within 20s", s.bin, s.Endpoint)
}

// Stop kills the server process (if running) and waits for it to exit.
// Its data directory stays for Restart.
func (s *Server) Stop() {
	if s.proc == nil {
		return
	}
	s.proc.Signal(syscall.SIGCONT) // in case it is frozen
	s.proc.Kill()
	<-s.done
	s.proc = nil
}

// Freeze stops the server process with SIGSTOP: it keeps its connections
// but answers nothing, like a hung server. It returns once the process is
// stopped. Thaw resumes it.
func (s *Server) Freeze() {
	s.signal(syscall.SIGSTOP)
	if s.proc == nil {
		return
	}
	stat := fmt.Sprintf("/proc/%d/stat", s.proc.Pid)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		b, err := os.ReadFile(stat)
		// The state follows the command name in parentheses.
		if i := bytes.LastIndexByte(b, ')'); err != nil || (i > 0 && len(b) > i+2 && b[i+2] == 'T') {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Thaw resumes a frozen server.
func (s *Server) Thaw() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig os.Signal) {
	if s.proc != nil {
		s.proc.Signal(sig)
	}
}

// URL returns the s3:// URL of bucket and prefix on this server.
func (s *Server) URL(bucket, prefix string) string {
	return fmt.Sprintf("s3://%s/%s?endpoint=%s&tls=false", bucket, prefix, s.Endpoint)
}

// Options returns the s3.Open options with the test credentials.
func (s *Server) Options(more ...s3.Option) []s3.Option {
	return append([]s3.Option{s3.WithCredentials(AccessKey, SecretKey)}, more...)
}

// Env returns environment variables giving a client the test credentials.
func (s *Server) Env() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + AccessKey, "AWS_SECRET_ACCESS_KEY=" + SecretKey}
}

// SetEnv sets the test credentials in the environment for the rest of t
// (for code that takes only a URL, such as repo.OpenBackend).
func (s *Server) SetEnv(t testing.TB) {
	t.Setenv("AWS_ACCESS_KEY_ID", AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", SecretKey)
	t.Setenv("AWS_SESSION_TOKEN", "")
}

// NewBucket creates a bucket with a fresh name and returns the name.
func (s *Server) NewBucket(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("bucket-%d", s.buckets.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s3.MakeBucket(ctx, s.URL(name, ""), s.Options()...); err != nil {
		t.Fatalf("s3test: create bucket %s: %v", name, err)
	}
	return name
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
