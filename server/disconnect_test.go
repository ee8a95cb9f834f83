package server_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/url"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"
)

// TestClientDisconnect has clients read a few KB of a NAR larger than the
// socket buffers and hang up: the handler must notice and return, leaving
// no goroutine behind.
func TestClientDisconnect(t *testing.T) {
	r := newRepo(t)
	_, name := r.putBigNAR(t, 24<<20)
	opts, log := loggingOptions()
	ts := r.serve(t, opts)
	u, err := url.Parse(ts.URL)
	check(t, err)
	baseline := settledGoroutines()
	for i := 0; i < 4; i++ {
		conn, err := net.Dial("tcp", u.Host)
		check(t, err)
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(conn, "GET /nar/%s.nar HTTP/1.1\r\nHost: %s\r\n\r\n", name, u.Host)
		buf := make([]byte, 8<<10)
		if _, err := io.ReadFull(conn, buf); err != nil {
			t.Fatalf("reading the start of the response: %v", err)
		}
		if !bytes.HasPrefix(buf, []byte("HTTP/1.1 200 ")) {
			t.Fatalf("got response %q; want 200", buf[:40])
		}
		conn.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	n := runtime.NumGoroutine()
	for n > baseline && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	if n > baseline {
		var stacks strings.Builder
		pprof.Lookup("goroutine").WriteTo(&stacks, 1)
		t.Fatalf("got %d goroutines 5s after the clients left; want at most %d\n%s", n, baseline, stacks.String())
	}
	if strings.Contains(log.String(), "level=ERROR") {
		t.Errorf("a client hanging up was logged as an error:\n%s", log)
	}
}

// settledGoroutines returns the number of goroutines once it stops
// falling (ingest and flush leave some winding down).
func settledGoroutines() int {
	n := runtime.NumGoroutine()
	for i := 0; i < 50; i++ {
		time.Sleep(10 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m >= n {
			return m
		}
		n = m
	}
	return n
}
