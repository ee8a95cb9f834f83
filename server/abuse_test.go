package server_test

import (
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nardedup/nardedup/server"
)

// closedAfter reads conn until it fails and returns how long after start
// that was.
func closedAfter(conn net.Conn, start time.Time) <-chan time.Duration {
	c := make(chan time.Duration, 1)
	go func() {
		buf := make([]byte, 4<<10)
		for {
			if _, err := conn.Read(buf); err != nil {
				c <- time.Since(start)
				return
			}
		}
	}()
	return c
}

// TestSlowHeaders trickles header lines: ReadHeaderTimeout must cut the
// connection off although bytes keep coming.
func TestSlowHeaders(t *testing.T) {
	addr := newRepo(t).serveReal(t, server.Options{}, server.HTTPOptions{ReadHeaderTimeout: 300 * time.Millisecond})
	conn := dialSmall(t, addr)
	start := time.Now()
	conn.SetDeadline(start.Add(10 * time.Second))
	io.WriteString(conn, "GET /nix-cache-info HTTP/1.1\r\nHost: nardedup\r\n")
	closed := closedAfter(conn, start)
	for i := 0; i < 30; i++ {
		select {
		case d := <-closed:
			if d > 2*time.Second {
				t.Errorf("slow headers: connection closed after %v; want about 300ms", d)
			}
			return
		case <-time.After(100 * time.Millisecond):
		}
		fmt.Fprintf(conn, "X-Slow-%d: y\r\n", i)
	}
	t.Fatal("slow headers: connection still open after 3s; want it closed after 300ms")
}

// TestIdleKeepAlive leaves a keep-alive connection idle after a request:
// the server must close it after IdleTimeout, and not before.
func TestIdleKeepAlive(t *testing.T) {
	addr := newRepo(t).serveReal(t, server.Options{}, server.HTTPOptions{IdleTimeout: 400 * time.Millisecond})
	conn := dialSmall(t, addr)
	resp, br := sendGET(t, conn, "/nix-cache-info")
	if _, err := io.Copy(io.Discard, resp.Body); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /nix-cache-info: got status %d, error %v; want 200", resp.StatusCode, err)
	}
	start := time.Now()
	conn.SetDeadline(start.Add(5 * time.Second))
	_, err := br.ReadByte()
	d := time.Since(start)
	if err == nil || d < 300*time.Millisecond || d > 2*time.Second {
		t.Errorf("idle keep-alive connection: read returned %v after %v; want closed after about 400ms", err, d)
	}
}

// rawStatus sends a raw request and returns the response status.
func rawStatus(t *testing.T, addr, req string) int {
	t.Helper()
	conn := dialSmall(t, addr)
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, req)
	resp, err := http.ReadResponse(bufioReader(conn), nil)
	if err != nil {
		t.Fatalf("request of %d bytes: %v", len(req), err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestOversizedRequest sends request lines and headers over the 16 KiB
// limit: 431 or 400, and a flood of 1 MiB headers must not make the server
// allocate what it is sent.
func TestOversizedRequest(t *testing.T) {
	addr := newRepo(t).serveReal(t, server.Options{}, server.HTTPOptions{})
	long := strings.Repeat("a", 20<<10)
	if code := rawStatus(t, addr, "GET /nix-cache-info HTTP/1.1\r\nHost: x\r\nX-Ok: "+long[:8<<10]+"\r\n\r\n"); code != http.StatusOK {
		t.Errorf("8 KiB header: got status %d; want 200", code)
	}
	for what, req := range map[string]string{
		"20 KiB request line": "GET /" + long + ".narinfo HTTP/1.1\r\nHost: x\r\n\r\n",
		"20 KiB header":       "GET /nix-cache-info HTTP/1.1\r\nHost: x\r\nX-Long: " + long + "\r\n\r\n",
		"1000 headers":        "GET /nix-cache-info HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-Many: 0123456789012345678901234567\r\n", 1000) + "\r\n",
	} {
		if code := rawStatus(t, addr, req); code != http.StatusRequestHeaderFieldsTooLarge && code != http.StatusBadRequest {
			t.Errorf("%s: got status %d; want 431 or 400", what, code)
		}
	}
	flood := []byte("GET /nix-cache-info HTTP/1.1\r\nHost: x\r\nX-Flood: " + strings.Repeat("f", 1<<20))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var wg sync.WaitGroup
	for i := 0; i < 32; i++ {
		conn := dialSmall(t, addr)
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		wg.Go(func() { conn.Write(flood) })
		wg.Go(func() { io.Copy(io.Discard, conn) })
	}
	wg.Wait()
	runtime.ReadMemStats(&after)
	if grown := after.TotalAlloc - before.TotalAlloc; grown > 16<<20 {
		t.Errorf("32 requests with 1 MiB headers allocated %d MiB; want under 16", grown>>20)
	}
}

// readSlowly reads body in 64 KiB steps, pausing between them, and
// returns its length and SHA-256.
func readSlowly(body io.Reader, pause time.Duration) (int64, [32]byte, error) {
	h := sha256.New()
	var n int64
	buf := make([]byte, 64<<10)
	for {
		m, err := io.ReadFull(body, buf)
		h.Write(buf[:m])
		n += int64(m)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return n, [32]byte(h.Sum(nil)), nil
		}
		if err != nil {
			return n, [32]byte(h.Sum(nil)), err
		}
		time.Sleep(pause)
	}
}
