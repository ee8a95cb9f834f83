package server_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/nardedup/nardedup/server"
)

// get GETs url with the given header name/value pairs and returns the
// response with its body read; the error is that of reading the body.
func get(t *testing.T, url string, header ...string) (*http.Response, []byte, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	check(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

func TestRange(t *testing.T) {
	r := newRepo(t)
	nar, name := r.putBigNAR(t, 3<<20)
	ts := r.serve(t, server.Options{Compression: "none", Logger: quiet})
	url := ts.URL + "/nar/" + name + ".nar"
	n := len(nar)
	etag := `"` + name + `"`
	tests := []struct {
		name       string
		header     []string
		status     int
		start, end int // the bytes of the NAR expected, for 200 and 206
	}{
		{"inside", []string{"Range", "bytes=1000-1999"}, 206, 1000, 2000},
		{"across frames", []string{"Range", fmt.Sprintf("bytes=%d-%d", 1<<20, 5<<19)}, 206, 1 << 20, 5<<19 + 1},
		{"open end", []string{"Range", fmt.Sprintf("bytes=%d-", n-10)}, 206, n - 10, n},
		{"suffix", []string{"Range", "bytes=-500"}, 206, n - 500, n},
		{"suffix longer than the NAR", []string{"Range", fmt.Sprintf("bytes=-%d", n+1)}, 206, 0, n},
		{"last byte", []string{"Range", fmt.Sprintf("bytes=%d-%d", n-1, n-1)}, 206, n - 1, n},
		{"past the end", []string{"Range", fmt.Sprintf("bytes=%d-%d", n-10, n+100)}, 206, n - 10, n},
		{"whole", []string{"Range", "bytes=0-"}, 206, 0, n},
		{"beyond", []string{"Range", fmt.Sprintf("bytes=%d-", n)}, 416, 0, 0},
		{"far beyond", []string{"Range", fmt.Sprintf("bytes=%d-%d", n+5, n+10)}, 416, 0, 0},
		{"empty suffix", []string{"Range", "bytes=-0"}, 416, 0, 0},
		{"several", []string{"Range", "bytes=0-1,5-6"}, 200, 0, n},
		{"malformed", []string{"Range", "bytes=9-3"}, 200, 0, n},
		{"other unit", []string{"Range", "items=0-3"}, 200, 0, n},
		{"if-range matches", []string{"Range", "bytes=10-19", "If-Range", etag}, 206, 10, 20},
		{"if-range differs", []string{"Range", "bytes=10-19", "If-Range", `"other"`}, 200, 0, n},
		{"if-range date", []string{"Range", "bytes=10-19", "If-Range", "Mon, 02 Jan 2006 15:04:05 GMT"}, 200, 0, n},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body, err := get(t, url, tt.header...)
			check(t, err)
			if resp.StatusCode != tt.status {
				t.Fatalf("GET %q: got status %d; want %d", tt.header, resp.StatusCode, tt.status)
			}
			switch tt.status {
			case 416:
				if got, want := resp.Header.Get("Content-Range"), fmt.Sprintf("bytes */%d", n); got != want {
					t.Errorf("416 Content-Range %q; want %q", got, want)
				}
				return
			case 206:
				want := fmt.Sprintf("bytes %d-%d/%d", tt.start, tt.end-1, n)
				if got := resp.Header.Get("Content-Range"); got != want {
					t.Errorf("Content-Range %q; want %q", got, want)
				}
			}
			if !bytes.Equal(body, nar[tt.start:tt.end]) {
				t.Errorf("GET %q: got %d bytes; want NAR[%d:%d], %d bytes", tt.header, len(body), tt.start, tt.end, tt.end-tt.start)
			}
			if got := resp.Header.Get("Accept-Ranges"); got != "bytes" {
				t.Errorf("Accept-Ranges %q; want bytes", got)
			}
		})
	}

	// A compressed NAR ignores Range: its encoded bytes are not known
	// without compressing from the start.
	for _, spec := range []string{"bytes=1000-1999", "bytes=-500", fmt.Sprintf("bytes=%d-", 10*n)} {
		resp, body, err := get(t, url+".zst", "Range", spec)
		check(t, err)
		if resp.StatusCode != 200 || resp.Header.Get("Accept-Ranges") != "none" {
			t.Fatalf("GET .nar.zst with Range %s: got %d, Accept-Ranges %q; want 200, none",
				spec, resp.StatusCode, resp.Header.Get("Accept-Ranges"))
		}
		zr, err := zstd.NewReader(bytes.NewReader(body))
		check(t, err)
		plain, err := io.ReadAll(zr)
		zr.Close()
		check(t, err)
		if !bytes.Equal(plain, nar) {
			t.Errorf("GET .nar.zst with Range %s: got %d bytes decompressed; want the NAR", spec, len(plain))
		}
	}
}

// TestRangeOfDamagedNAR asks for a range before the damage: the range
// itself rebuilds fine, but the NAR fails its check later, and the client
// must not receive the complete range.
func TestRangeOfDamagedNAR(t *testing.T) {
	r := newRepo(t)
	nar, name := r.putBigNAR(t, 12<<20)
	r.damageResidue(t, name, 0.9)
	opts, log := loggingOptions()
	ts := r.serve(t, opts)
	url := ts.URL + "/nar/" + name + ".nar"
	resp, body, err := get(t, url, "Range", "bytes=100-199")
	if resp.StatusCode != http.StatusPartialContent {
		t.Fatalf("GET %s: got status %d; want 206 then a truncated body", url, resp.StatusCode)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("GET %s: got body error %v; want io.ErrUnexpectedEOF or a reset", url, err)
	}
	if len(body) >= 100 || !bytes.Equal(body, nar[100:100+len(body)]) {
		t.Errorf("GET %s: got %d bytes; want fewer than 100, a prefix of the range", url, len(body))
	}
	if l := log.String(); !strings.Contains(l, name) {
		t.Errorf("server log does not name NAR %s:\n%s", name, l)
	}
}
