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

	"github.com/klauspost/compress/zstd"
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

// trickle sends a GET for target from the local address from and reports
// the response status on status (0 if there is none), then, on a 200,
// reads the body at about 40 KiB/s until the connection fails.
func trickle(t *testing.T, from, addr, target string, status chan<- int) {
	conn := dialSmallFrom(t, from, addr)
	go func() {
		conn.SetDeadline(time.Now().Add(time.Minute))
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: nardedup\r\n\r\n", target)
		br := bufioReader(conn)
		resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
		if err != nil {
			status <- 0
			return
		}
		status <- resp.StatusCode
		if resp.StatusCode != http.StatusOK {
			return
		}
		buf := make([]byte, 4<<10)
		for {
			if _, err := io.ReadFull(br, buf); err != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
}

// getFrom GETs url from the local address from and returns the status,
// the body's length and how long it all took.
func getFrom(t *testing.T, from, url string) (int, int64, time.Duration) {
	t.Helper()
	start := time.Now()
	resp, err := clientFrom(from, 30*time.Second).Get(url)
	if err != nil {
		t.Fatalf("GET %s from %s: %v", url, from, err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		t.Fatalf("GET %s from %s: reading the body: %v", url, from, err)
	}
	return resp.StatusCode, n, time.Since(start)
}

// TestSlowReadersAttack has four addresses open six NAR downloads each,
// read at a trickle, against eight stream slots: each address gets at most
// its two streams (one more waits in line, the rest get 429 at once), the
// last slot is kept for newcomers, and a client from a fifth address gets
// its NAR at once rather than waiting QueueTimeout for a 503.
func TestSlowReadersAttack(t *testing.T) {
	r := newRepo(t)
	_, big := r.putBigNAR(t, 24<<20)
	u := r.largest(t)
	const queue = 10 * time.Second
	addr := r.serveReal(t, server.Options{Compression: "none", MaxConcurrentNARs: 8, QueueTimeout: queue},
		server.HTTPOptions{})
	status := make(chan int, 24)
	for i := range 24 {
		trickle(t, fmt.Sprintf("127.0.0.%d", 1+i%4), addr, "/nar/"+big+".nar", status)
	}
	got := map[int]int{}
	timeout := time.After(5 * time.Second)
	for range 23 { // the 24th waits in line for the slot kept for newcomers
		select {
		case code := <-status:
			got[code]++
		case <-timeout:
			t.Fatalf("attack: got statuses %v within 5s; want 7 times 200 and 16 times 429 at once", got)
		}
	}
	if got[http.StatusOK] != 7 || got[http.StatusTooManyRequests] != 16 {
		t.Errorf("attack: got statuses %v; want 7 times 200 and 16 times 429", got)
	}
	code, n, d := getFrom(t, "127.0.0.9", "http://"+addr+"/nar/"+narName(t, u.ni)+".nar")
	if code != http.StatusOK || n != int64(u.ni.NarSize) || d > queue/2 {
		t.Errorf("GET a NAR from a new client during the attack: got status %d, %d bytes after %v; want 200 and %d bytes at once",
			code, n, d, u.ni.NarSize)
	}
	t.Logf("new client's NAR during the attack took %v", d)
}

// TestStreamsPerClient has one client stall on MaxStreamsPerClient
// downloads: one more from it gets 429 with Retry-After at once, another
// client is served, and a stream the first client ends is its again.
func TestStreamsPerClient(t *testing.T) {
	r := newRepo(t)
	_, big := r.putBigNAR(t, 24<<20)
	u := r.largest(t)
	addr := r.serveReal(t, server.Options{MaxConcurrentNARs: 8, MaxStreamsPerClient: 3, QueueTimeout: 10 * time.Second},
		server.HTTPOptions{})
	var held []net.Conn
	for range 3 {
		conn := dialSmallFrom(t, "127.0.0.2", addr)
		if resp, _ := sendGET(t, conn, "/nar/"+big+".nar.zst"); resp.StatusCode != http.StatusOK {
			t.Fatalf("GET big NAR: got status %d; want 200", resp.StatusCode)
		}
		held = append(held, conn)
	}
	url := "http://" + addr + "/nar/" + narName(t, u.ni) + ".nar"
	start := time.Now()
	conn := dialSmallFrom(t, "127.0.0.2", addr)
	resp, _ := sendGET(t, conn, "/nar/"+narName(t, u.ni)+".nar")
	if d := time.Since(start); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || d > 3*time.Second {
		t.Errorf("4th download from one client: got status %d, Retry-After %q after %v; want 429 with Retry-After at once",
			resp.StatusCode, resp.Header.Get("Retry-After"), d)
	}
	if code, _, _ := getFrom(t, "127.0.0.3", url); code != http.StatusOK {
		t.Errorf("GET a NAR from another client: got status %d; want 200", code)
	}
	held[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	code, _, _ := getFrom(t, "127.0.0.2", url)
	for code != http.StatusOK && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		code, _, _ = getFrom(t, "127.0.0.2", url)
	}
	if code != http.StatusOK {
		t.Errorf("GET a NAR after the client closed one of its downloads: got status %d; want 200", code)
	}
}

// sndbufListener gives each connection it accepts a send buffer of
// sndbuf bytes. Over loopback, whose packets are 64 KiB, the kernel gives
// a socket a send buffer of MiBs, which a write waits to see a third of
// drained: at a few MiB/s that is longer than the short windows of these
// tests. An internet client reading that slowly gets a far smaller one.
type sndbufListener struct {
	net.Listener
	sndbuf int
}

func (l sndbufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		err = c.(*net.TCPConn).SetWriteBuffer(l.sndbuf)
	}
	return c, err
}

// serveSmallBuffers is serveReal with 128 KiB send buffers.
func (r *repo) serveSmallBuffers(t *testing.T, opts server.Options) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(t, err)
	return r.serveOn(t, sndbufListener{ln, 128 << 10}, opts, server.HTTPOptions{})
}

// TestMinRate reads a NAR far below MinRate but steadily, so SendTimeout
// never strikes: the download must be cut off within a few windows and
// logged once with the client address and the NAR hash, and its only
// stream slot must go to the next download.
func TestMinRate(t *testing.T) {
	r := newRepo(t)
	nar, name := r.putBigNAR(t, 24<<20)
	for _, comp := range []string{"none", "zstd"} {
		t.Run(comp, func(t *testing.T) {
			opts, log := loggingOptions()
			opts.Compression, opts.MaxConcurrentNARs, opts.QueueTimeout = comp, 1, 20*time.Second
			// The slow reader reads at a quarter of MinRate; a full-speed
			// client must stay above it even on a loaded machine.
			opts.SendTimeout, opts.MinRate, opts.MinRateWindow = 20*time.Second, 64<<10, time.Second
			addr := r.serveSmallBuffers(t, opts)
			target := "/nar/" + name + ".nar"
			if comp == "zstd" {
				target += ".zst"
			}
			conn := dialSmallFrom(t, "127.0.0.2", addr)
			start := time.Now()
			resp, br := sendGET(t, conn, target)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: got status %d; want 200", target, resp.StatusCode)
			}
			conn.SetDeadline(start.Add(20 * time.Second))
			got := make(chan int64, 1)
			go func() {
				var n int64
				buf := make([]byte, 8<<10)
				for {
					m, err := io.ReadFull(br, buf)
					n += int64(m)
					if err != nil {
						got <- n
						return
					}
					time.Sleep(500 * time.Millisecond) // 16 KiB/s
				}
			}()
			for !strings.Contains(log.String(), "below the minimum rate") && time.Since(start) < 10*time.Second {
				time.Sleep(20 * time.Millisecond)
			}
			d := time.Since(start)
			line := ""
			for l := range strings.Lines(log.String()) {
				if strings.Contains(l, "below the minimum rate") {
					line = l
				}
			}
			if !strings.Contains(line, "client=127.0.0.2:") || !strings.Contains(line, "nar="+name) {
				t.Fatalf("reader at 16 KiB/s, MinRate 64 KiB/s over 1s: log after %v: %q; want a line on the slow reader naming its address and the NAR",
					d, log.String())
			}
			t.Logf("reader at 16 KiB/s cut off after %v", d)
			checkNextDownload(t, "http://"+addr+target, comp, len(nar))
			if n := <-got; n >= int64(len(nar)) {
				t.Errorf("reader at 16 KiB/s got all %d bytes; want it cut off", n)
			}
			if n := strings.Count(log.String(), "below the minimum rate"); n != 1 {
				t.Errorf("log: %d lines on the slow reader; want 1", n)
			}
		})
	}
}

// TestMinRateSteadyReader reads NARs at full speed and at tens of times
// MinRate over several windows: no download may be cut off.
func TestMinRateSteadyReader(t *testing.T) {
	r := newRepo(t)
	nar, name := r.putBigNAR(t, 8<<20)
	for _, comp := range []string{"none", "zstd"} {
		t.Run(comp, func(t *testing.T) {
			// A window of 2 s: the reader goes 48 times faster than the
			// floor, but on a loaded machine it may not be scheduled for
			// half a second.
			addr := r.serveSmallBuffers(t, server.Options{Compression: comp, MinRate: 64 << 10, MinRateWindow: 2 * time.Second})
			url := "http://" + addr + "/nar/" + name + ".nar"
			if comp == "zstd" {
				url += ".zst"
			}
			checkNextDownload(t, url, comp, len(nar))
			c := &http.Client{Transport: &http.Transport{DisableCompression: true}}
			defer c.CloseIdleConnections()
			resp, err := c.Get(url)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body := io.Reader(resp.Body)
			if comp == "zstd" {
				zr, err := zstd.NewReader(resp.Body)
				check(t, err)
				defer zr.Close()
				body = zr
			}
			start := time.Now()
			n, sum, err := readSlowly(body, 20*time.Millisecond) // up to 3 MiB/s
			if n != int64(len(nar)) || sum != sha256.Sum256(nar) || err != nil {
				t.Errorf("steady reader: got %d bytes of %d, hash match %v, error %v after %v; want the whole NAR",
					n, len(nar), sum == sha256.Sum256(nar), err, time.Since(start))
			}
			t.Logf("steady reader took %v", time.Since(start))
		})
	}
}
