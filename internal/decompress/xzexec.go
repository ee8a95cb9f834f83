package decompress

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
)

// xzMemLimit bounds the memory the xz program may use (a hostile file can
// ask for a 1.5 GiB dictionary; `xz -9e` needs 65 MiB).
const xzMemLimit = "1GiB"

// xzMemLimitBytes is xzMemLimit for liblzma.
const xzMemLimitBytes = 1 << 30

var errClosed = errors.New("decompress: read after Close")

// xzProc streams r through `xz -dc`.
type xzProc struct {
	ctx    context.Context
	cmd    *exec.Cmd
	stdout io.ReadCloser
	stderr *capBuffer

	// Feeding stdin when r is not an *os.File.
	stop     atomic.Bool   // the copier must not read r again
	copyDone chan struct{} // closed when the copier has stopped
	inErr    error         // read error from r, valid after copyDone

	closed   atomic.Bool
	waitOnce sync.Once
	result   error // outcome of the process, valid after waitOnce
}

func startXZ(ctx context.Context, path string, r io.Reader) (io.ReadCloser, error) {
	cmd := exec.CommandContext(ctx, path, "--decompress", "--stdout",
		"--memlimit-decompress="+xzMemLimit)
	cmd.Env = xzEnv()
	p := &xzProc{ctx: ctx, cmd: cmd, stderr: &capBuffer{max: 4096}}
	cmd.Stderr = p.stderr
	var stdinW io.WriteCloser
	if f, ok := r.(*os.File); ok {
		cmd.Stdin = f // xz reads the file itself, no copying
	} else {
		var err error
		if stdinW, err = cmd.StdinPipe(); err != nil {
			return nil, fmt.Errorf("decompress: xz: %w", err)
		}
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("decompress: xz: %w", err)
	}
	p.stdout = stdout
	if f, ok := stdout.(*os.File); ok {
		growPipe(f)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("decompress: xz: %w", err)
	}
	if stdinW != nil {
		p.copyDone = make(chan struct{})
		go p.feed(r, stdinW)
	}
	return p, nil
}

// xzEnv is the environment minus xz option variables, with C messages.
func xzEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "XZ_OPT=") && !strings.HasPrefix(kv, "XZ_DEFAULTS=") &&
			!strings.HasPrefix(kv, "LC_ALL=") {
			env = append(env, kv)
		}
	}
	return append(env, "LC_ALL=C")
}

// feed copies r to xz's stdin until EOF, an error, or Close. After Close it
// finishes at most the Read already in progress.
func (p *xzProc) feed(r io.Reader, w io.WriteCloser) {
	defer w.Close()
	defer close(p.copyDone)
	buf := make([]byte, 128<<10)
	for !p.stop.Load() {
		n, err := r.Read(buf)
		if n > 0 && !p.stop.Load() {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return // xz exited; its status tells why
			}
		}
		if err != nil {
			if err != io.EOF {
				p.inErr = err
			}
			return
		}
	}
}

func (p *xzProc) Read(b []byte) (int, error) {
	if p.closed.Load() {
		return 0, errClosed
	}
	n, err := p.stdout.Read(b)
	if err != nil {
		return n, p.finish()
	}
	return n, nil
}

// finish reaps xz once and returns the stream's terminal error: io.EOF for
// a clean end, else why it failed.
func (p *xzProc) finish() error {
	p.waitOnce.Do(func() {
		werr := p.cmd.Wait()
		p.result = p.outcome(werr)
	})
	if p.closed.Load() {
		return errClosed
	}
	return p.result
}

func (p *xzProc) outcome(werr error) error {
	if p.copyDone != nil {
		select {
		case <-p.copyDone:
			if p.inErr != nil {
				return fmt.Errorf("decompress: xz: reading input: %w", p.inErr)
			}
		default:
		}
	}
	if err := p.ctx.Err(); err != nil {
		return fmt.Errorf("decompress: xz: %w", err)
	}
	if werr != nil {
		msg := strings.TrimSpace(p.stderr.String())
		if msg == "" {
			msg = "no message"
		}
		return fmt.Errorf("decompress: xz: %v: %s", werr, msg)
	}
	return io.EOF
}

// Close kills xz if it is still running and reaps it.
func (p *xzProc) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	p.stop.Store(true)
	_ = p.cmd.Process.Kill() // os.ErrProcessDone if it already exited
	p.finish()
	return nil
}

// capBuffer keeps the first max bytes written to it.
type capBuffer struct {
	max int
	buf []byte
}

func (c *capBuffer) Write(b []byte) (int, error) {
	if room := c.max - len(c.buf); room > 0 {
		c.buf = append(c.buf, b[:min(room, len(b))]...)
	}
	return len(b), nil
}

func (c *capBuffer) String() string { return string(c.buf) }
