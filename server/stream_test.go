package server_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/nardedup/nardedup/server"
)

func bufioReader(conn net.Conn) *bufio.Reader { return bufio.NewReaderSize(conn, 64<<10) }

// TestSlowDownload reads a 16 MiB NAR at about 6 MiB/s, far longer than the server's ReadTimeout and
// WriteTimeout: it must arrive whole, and the server must go on answering
// others meanwhile.
func TestSlowDownload(t *testing.T) {
	r := newRepo(t)
	nar, name := r.putBigNAR(t, 16<<20)
	addr := r.serveReal(t, server.Options{Compression: "none", SendTimeout: 2 * time.Second, MaxConcurrentNARs: 2},
		server.HTTPOptions{ReadTimeout: 300 * time.Millisecond, WriteTimeout: 300 * time.Millisecond})
	conn := dialSmall(t, addr)
	resp, _ := sendGET(t, conn, "/nar/"+name+".nar")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET big NAR: got status %d; want 200", resp.StatusCode)
	}
	others := make(chan error, 1)
	go func() {
		time.Sleep(time.Second)
		resp, err := clientFrom("127.0.0.3", time.Second).Get("http://" + addr + "/nar/" + name + ".nar")
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		others <- err
	}()
	start := time.Now()
	n, sum, err := readSlowly(resp.Body, 10*time.Millisecond)
	d := time.Since(start)
	if n != int64(len(nar)) || sum != sha256.Sum256(nar) || err != nil {
		t.Fatalf("slow download: got %d bytes (want %d), error %v after %v; want the whole NAR", n, len(nar), err, d)
	}
	if d < time.Second {
		t.Errorf("slow download took %v; want over 1s, longer than the server's timeouts", d)
	}
	if err := <-others; err != nil {
		t.Errorf("a second download during the slow one: %v", err)
	}
	t.Logf("slow download of %d MiB took %v", len(nar)>>20, d)
}

// TestStalledDownload has a client request a big NAR and read nothing: it
// must be cut off after SendTimeout and give its stream slot to the next
// download, leaving no goroutine or open file behind. SendTimeout is long
// enough that the next download, which runs under the same setting, is not
// cut off on a loaded machine or under the race detector.
func TestStalledDownload(t *testing.T) {
	r := newRepo(t)
	nar, name := r.putBigNAR(t, 24<<20)
	for _, comp := range []string{"none", "zstd"} {
		t.Run(comp, func(t *testing.T) {
			addr := r.serveReal(t, server.Options{Compression: comp, SendTimeout: 1500 * time.Millisecond,
				MaxConcurrentNARs: 1, QueueTimeout: 10 * time.Second}, server.HTTPOptions{})
			url := "http://" + addr + "/nar/" + name + ".nar"
			if comp == "zstd" {
				url += ".zst"
			}
			goroutines, fds := settledGoroutines(), openFDs(t)
			stalled := dialSmall(t, addr)
			resp, _ := sendGET(t, stalled, url[len("http://"+addr):])
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: got status %d; want 200", url, resp.StatusCode)
			}
			checkNextDownload(t, url, comp, len(nar))
			got, _ := io.Copy(io.Discard, resp.Body)
			if comp == "none" && got >= int64(len(nar)) {
				t.Errorf("stalled client got all %d bytes; want it cut off", got)
			}
			stalled.Close()
			http.DefaultClient.CloseIdleConnections()
			waitSettled(t, goroutines, fds)
		})
	}
}

// checkNextDownload GETs url from another address (127.0.0.3) while a
// client stalls on the only stream slot: it must succeed within a few
// seconds.
func checkNextDownload(t *testing.T, url, comp string, size int) {
	t.Helper()
	start := time.Now()
	resp, err := clientFrom("127.0.0.3", 8*time.Second).Get(url)
	if err != nil {
		t.Fatalf("GET %s while another client stalls: %v", url, err)
	}
	var body bytes.Buffer
	_, err = io.Copy(&body, resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || (comp == "none" && body.Len() != size) {
		t.Fatalf("GET %s while another client stalls: got status %d, %d bytes, error %v; want 200 and the NAR",
			url, resp.StatusCode, body.Len(), err)
	}
	t.Logf("download while another client stalls took %v", time.Since(start))
}

// TestDisconnectNoLeak has clients hang up in the middle of plain and
// compressed NARs: no goroutine and no file may stay behind.
func TestDisconnectNoLeak(t *testing.T) {
	r := newRepo(t)
	_, name := r.putBigNAR(t, 24<<20)
	addr := r.serveReal(t, server.Options{}, server.HTTPOptions{})
	get := func(target string, n int) {
		conn := dialSmall(t, addr)
		resp, br := sendGET(t, conn, target)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: got status %d; want 200", target, resp.StatusCode)
		}
		if _, err := io.CopyN(io.Discard, br, int64(n)); err != nil {
			t.Fatalf("GET %s: reading %d bytes: %v", target, n, err)
		}
		conn.Close()
	}
	get("/nar/"+name+".nar", 1<<20) // warm the caches
	goroutines, fds := settledGoroutines(), openFDs(t)
	for i := 0; i < 8; i++ {
		get("/nar/"+name+".nar", 8<<10<<i)
		get("/nar/"+name+".nar.zst", 8<<10<<i)
	}
	waitSettled(t, goroutines, fds)
}

// TestStreamsBusy fills the only stream slot with a stalled client: a
// second download waits QueueTimeout in line, then gets 503 with
// Retry-After, while narinfos are still served.
func TestStreamsBusy(t *testing.T) {
	r := newRepo(t)
	_, name := r.putBigNAR(t, 24<<20)
	u := r.largest(t)
	addr := r.serveReal(t, server.Options{MaxConcurrentNARs: 1, QueueTimeout: 300 * time.Millisecond}, server.HTTPOptions{})
	stalled := dialSmall(t, addr)
	if resp, _ := sendGET(t, stalled, "/nar/"+name+".nar.zst"); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET big NAR: got status %d; want 200", resp.StatusCode)
	}
	start := time.Now()
	resp, err := clientFrom("127.0.0.3", 10*time.Second).Get("http://" + addr + "/nar/" + narName(t, u.ni) + ".nar")
	check(t, err)
	resp.Body.Close()
	d := time.Since(start)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || d < 250*time.Millisecond {
		t.Errorf("GET a NAR while all streams are busy: got status %d, Retry-After %q after %v; want 503 with Retry-After after 300ms",
			resp.StatusCode, resp.Header.Get("Retry-After"), d)
	}
	if resp, _, err := fetch(t, http.MethodGet, "http://"+addr+"/"+u.hash+".narinfo"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("GET a narinfo while all streams are busy: got status %d, error %v; want 200", resp.StatusCode, err)
	}
}
