package server_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nardedup/nardedup/server"
)

// rawRequest sends a request with exactly this request target, bypassing
// any client-side URL cleaning, and returns the status and body.
func rawRequest(t *testing.T, base, method, target string) (int, http.Header, string) {
	t.Helper()
	u, err := url.Parse(base)
	check(t, err)
	conn, err := net.Dial("tcp", u.Host)
	check(t, err)
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", method, target, u.Host)
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s %.80s: %v", method, target, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %.80s: reading body: %v", method, target, err)
	}
	return resp.StatusCode, resp.Header, string(body)
}

func TestNotFound(t *testing.T) {
	r := newRepo(t)
	ts := r.serve(t, server.Options{})
	u := r.largest(t)
	nar := narName(t, u.ni)
	zeros := strings.Repeat("0", 32)
	targets := []string{
		"/" + zeros + ".narinfo",       // well-formed, unknown
		"/" + zeros[:31] + ".narinfo",  // too short
		"/" + zeros + "0.narinfo",      // too long
		"/" + zeros[:31] + "e.narinfo", // e, o, t, u are not nixbase32
		"/" + zeros[:31] + "o.narinfo",
		"/" + zeros[:31] + "t.narinfo",
		"/" + zeros[:31] + "u.narinfo",
		"/" + strings.ToUpper(u.hash) + ".narinfo",       // uppercase
		"/" + u.hash + ".narinfo/",                       // trailing slash
		"//" + u.hash + ".narinfo",                       // double slash
		"/nar/" + u.hash + ".narinfo",                    // narinfo under nar/
		"/../config", "/nar/../config", "/%2e%2e/config", // traversal
		"/nar/..%2fconfig.nar", "/nar/%2e%2e/config.nar",
		"/config", "/" + r.keys(t, "manifests/")[0], "/" + r.keys(t, "packs/")[0],
		"/narinfo/" + u.hash + ".narinfo", "/manifests/" + nar,
		"/nar/" + strings.Repeat("0", 52) + ".nar", // well-formed, unknown
		"/nar/" + nar + ".nar.xz",                  // compression not served
		"/nar/" + nar[:51] + ".nar",                // too short
		"/nar/" + nar + "0.nar",                    // too long
		"/nar/" + strings.ToUpper(nar) + ".nar",
		"/nar//" + nar + ".nar",
		"//nar/" + nar + ".nar",
		"/nar/sub/" + nar + ".nar",
		"//nix-cache-info", "/nix-cache-info/", "/", "*",
	}
	for _, target := range targets {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			code, _, body := rawRequest(t, ts.URL, method, target)
			if code != http.StatusNotFound {
				t.Errorf("%s %s: got status %d; want 404", method, target, code)
			}
			if method == http.MethodGet && code == http.StatusNotFound && body != "404 page not found\n" {
				t.Errorf("%s %s: got body %q; want 404 page not found", method, target, body)
			}
		}
	}
}

func TestMethodNotAllowed(t *testing.T) {
	r := newRepo(t)
	ts := r.serve(t, server.Options{})
	u := r.largest(t)
	for _, target := range []string{"/nix-cache-info", "/" + u.hash + ".narinfo", "/" + u.ni.URL, "/nar/" + narName(t, u.ni) + ".nar"} {
		for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
			code, hdr, _ := rawRequest(t, ts.URL, method, target)
			if code != http.StatusMethodNotAllowed {
				t.Errorf("%s %s: got status %d; want 405", method, target, code)
			}
			if allow := hdr.Get("Allow"); allow != "GET, HEAD" {
				t.Errorf("%s %s: got Allow %q; want %q", method, target, allow, "GET, HEAD")
			}
		}
	}
	// The narinfo is still there.
	if code, _, _ := rawRequest(t, ts.URL, http.MethodGet, "/"+u.hash+".narinfo"); code != http.StatusOK {
		t.Errorf("GET narinfo after DELETE: got status %d; want 200", code)
	}
}

func TestLongURL(t *testing.T) {
	ts := newRepo(t).serve(t, server.Options{})
	for _, n := range []int{4 << 10, 100 << 10, 900 << 10} {
		for _, target := range []string{
			"/" + strings.Repeat("a", n) + ".narinfo",
			"/nar/" + strings.Repeat("0", n) + ".nar",
			"/nix-cache-info?" + strings.Repeat("x", n),
		} {
			code, _, _ := rawRequest(t, ts.URL, http.MethodGet, target)
			if code >= 500 {
				t.Errorf("GET %.40s… (%d bytes): got status %d; want no 5xx", target, len(target), code)
			}
		}
	}
}
