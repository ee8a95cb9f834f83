package server_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/nardedup/nardedup/server"
)

// serveReal serves the repository as "nardedup serve" does, through
// server.Serve with the connection limits of hopts, on a loopback port,
// and returns the server's address (host:port).
func (r *repo) serveReal(tb testing.TB, opts server.Options, hopts server.HTTPOptions) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(tb, err)
	return r.serveOn(tb, ln, opts, hopts)
}

// serveOn is serveReal on the listener ln.
func (r *repo) serveOn(tb testing.TB, ln net.Listener, opts server.Options, hopts server.HTTPOptions) string {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- server.Serve(ctx, ln, server.New(r.st, opts), hopts) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("server.Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// dialSmall connects to addr with a small receive buffer, so that a
// client that does not read stops the server's writes soon.
func dialSmall(tb testing.TB, addr string) *net.TCPConn {
	tb.Helper()
	return dialSmallFrom(tb, "", addr)
}

// dialSmallFrom is dialSmall from the local IP address from, such as
// 127.0.0.2 (Linux routes all of 127/8 on lo), so that the server sees
// another client; "" lets the system choose.
func dialSmallFrom(tb testing.TB, from, addr string) *net.TCPConn {
	tb.Helper()
	var d net.Dialer
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp", addr)
	check(tb, err)
	conn := c.(*net.TCPConn)
	check(tb, conn.SetReadBuffer(16<<10))
	tb.Cleanup(func() { conn.Close() })
	return conn
}

// clientFrom returns an HTTP client without keep-alives or compression
// that connects from the local IP address from, so that the server sees
// another client than one dialing from 127.0.0.1.
func clientFrom(from string, timeout time.Duration) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	return &http.Client{Timeout: timeout, Transport: &http.Transport{DialContext: d.DialContext,
		DisableKeepAlives: true, DisableCompression: true}}
}

// sendGET writes a GET request for target on conn and reads the
// response's headers.
func sendGET(tb testing.TB, conn net.Conn, target string) (*http.Response, *bufio.Reader) {
	tb.Helper()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: nardedup\r\n\r\n", target)
	br := bufio.NewReaderSize(conn, 64<<10)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil {
		tb.Fatalf("GET %s: %v", target, err)
	}
	return resp, br
}

// openFDs returns the number of open file descriptors of the process.
func openFDs(tb testing.TB) int {
	tb.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	check(tb, err)
	return len(ents)
}

// waitSettled waits up to 5s for the goroutines and file descriptors to
// fall back to the baseline and fails the test if they do not.
func waitSettled(t *testing.T, goroutines, fds int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	g, f := runtime.NumGoroutine(), openFDs(t)
	for (g > goroutines || f > fds) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		g, f = runtime.NumGoroutine(), openFDs(t)
	}
	if f > fds {
		ents, _ := os.ReadDir("/proc/self/fd")
		var links []string
		for _, e := range ents {
			l, _ := os.Readlink("/proc/self/fd/" + e.Name())
			links = append(links, l)
		}
		t.Errorf("got %d open files 5s after the clients left; want at most %d: %s", f, fds, strings.Join(links, " "))
	}
	if g > goroutines {
		var stacks strings.Builder
		pprof.Lookup("goroutine").WriteTo(&stacks, 1)
		t.Errorf("got %d goroutines 5s after the clients left; want at most %d\n%s", g, goroutines, stacks.String())
	}
}
