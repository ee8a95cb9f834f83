package server_test

import (
	"bytes"
	"crypto/sha256"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/internal/sample"
	"github.com/nardedup/nardedup/narfmt/narinfo"
	"github.com/nardedup/nardedup/narfmt/nixbase32"
	"github.com/nardedup/nardedup/narfmt/signature"
	"github.com/nardedup/nardedup/server"
)

func TestCacheInfo(t *testing.T) {
	ts := newRepo(t).serve(t, server.Options{})
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		resp, body, err := fetch(t, method, ts.URL+"/nix-cache-info")
		check(t, err)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s /nix-cache-info: got status %d; want 200", method, resp.StatusCode)
		}
		if method == http.MethodHead {
			if len(body) != 0 {
				t.Errorf("HEAD /nix-cache-info: got %d body bytes; want 0", len(body))
			}
			continue
		}
		if !strings.HasPrefix(string(body), "StoreDir: /nix/store\n") {
			t.Errorf("GET /nix-cache-info: got %q; want a first line StoreDir: /nix/store", body)
		}
		if !strings.Contains(string(body), "WantMassQuery: 1\n") {
			t.Errorf("GET /nix-cache-info: got %q; want WantMassQuery: 1", body)
		}
	}
}

func TestNarInfoAndNAR(t *testing.T) {
	r := newRepo(t)
	keys, err := signature.ParsePublicKeys(sample.PublicKey())
	check(t, err)
	for _, compression := range []string{"none", "zstd"} {
		ts := r.serve(t, server.Options{Compression: compression})
		for _, u := range r.upstream(t) {
			t.Run(compression+"/"+u.hash, func(t *testing.T) {
				served := getNarInfo(t, ts.URL, u.hash)
				checkNarInfo(t, u, served, keys, compression)
				nar := getNAR(t, ts.URL, served)
				want := decompress(t, filepath.Join(r.bucket, filepath.FromSlash(u.ni.URL)))
				if !bytes.Equal(nar, want) {
					t.Errorf("NAR of %s differs from the upstream NAR (%d bytes; want %d)", u.hash, len(nar), len(want))
				}
			})
		}
	}
}

// getNarInfo GETs and HEADs a narinfo and returns the GET's body.
func getNarInfo(t *testing.T, base, hash string) []byte {
	t.Helper()
	url := base + "/" + hash + ".narinfo"
	resp, body, err := fetch(t, http.MethodGet, url)
	check(t, err)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: got status %d; want 200", url, resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/x-nix-narinfo" {
		t.Errorf("GET %s: got Content-Type %q; want text/x-nix-narinfo", url, ct)
	}
	if cl := resp.Header.Get("Content-Length"); cl != strconv.Itoa(len(body)) {
		t.Errorf("GET %s: got Content-Length %q; want %d", url, cl, len(body))
	}
	head, hbody, err := fetch(t, http.MethodHead, url)
	check(t, err)
	if head.StatusCode != http.StatusOK || len(hbody) != 0 {
		t.Errorf("HEAD %s: got status %d with %d body bytes; want 200 with none", url, head.StatusCode, len(hbody))
	}
	if got, want := head.Header.Get("Content-Length"), strconv.Itoa(len(body)); got != want {
		t.Errorf("HEAD %s: got Content-Length %q; want %q", url, got, want)
	}
	if got := head.Header.Get("Content-Type"); got != "text/x-nix-narinfo" {
		t.Errorf("HEAD %s: got Content-Type %q; want text/x-nix-narinfo", url, got)
	}
	return body
}

// checkNarInfo compares a served narinfo with the upstream one.
func checkNarInfo(t *testing.T, u upstreamInfo, served []byte, keys []signature.PublicKey, compression string) {
	t.Helper()
	ni, err := narinfo.Parse(bytes.NewReader(served))
	if err != nil {
		t.Fatalf("served narinfo %s: %v\n%s", u.hash, err, served)
	}
	up := u.ni
	if ni.StorePath != up.StorePath || ni.NarHash != up.NarHash || ni.NarSize != up.NarSize ||
		ni.Deriver != up.Deriver || !slices.Equal(ni.References, up.References) {
		t.Errorf("served narinfo:\n%s\nwant the path fields of:\n%s", served, u.text)
	}
	if got, want := sigLines(served), sigLines(u.text); len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("Sig lines: got %q; want %q", got, want)
	}
	if err := ni.Verify(keys); err != nil {
		t.Errorf("served narinfo %s: Verify: got %v; want nil", u.hash, err)
	}
	if compression == "zstd" {
		if want := "nar/" + narName(t, up) + ".nar.zst"; ni.URL != want || ni.Compression != "zstd" || ni.FileHash != "" {
			t.Errorf("URL, Compression, FileHash: got %q %q %q; want %q zstd and no FileHash", ni.URL, ni.Compression, ni.FileHash, want)
		}
		return
	}
	if want := "nar/" + narName(t, up) + ".nar"; ni.URL != want {
		t.Errorf("URL: got %q; want %q", ni.URL, want)
	}
	if ni.Compression != "none" || ni.FileHash != up.NarHash || ni.FileSize != up.NarSize {
		t.Errorf("Compression, FileHash, FileSize: got %q %q %d; want none %q %d",
			ni.Compression, ni.FileHash, ni.FileSize, up.NarHash, up.NarSize)
	}
}

func sigLines(text []byte) []string {
	var sigs []string
	for line := range strings.Lines(string(text)) {
		if strings.HasPrefix(line, "Sig: ") {
			sigs = append(sigs, line)
		}
	}
	return sigs
}

// getNAR GETs and HEADs the NAR a served narinfo points at, checks it
// against the narinfo and returns it.
func getNAR(t *testing.T, base string, served []byte) []byte {
	t.Helper()
	ni, err := narinfo.Parse(bytes.NewReader(served))
	check(t, err)
	url := base + "/" + ni.URL
	resp, nar, err := fetch(t, http.MethodGet, url)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: got status %d, error %v; want 200, nil", url, resp.StatusCode, err)
	}
	if ni.Compression == "zstd" {
		return unzstd(t, url, resp, nar, ni)
	}
	if uint64(len(nar)) != ni.NarSize {
		t.Errorf("GET %s: got %d bytes; want NarSize %d", url, len(nar), ni.NarSize)
	}
	sum := sha256.Sum256(nar)
	if got := "sha256:" + nixbase32.EncodeToString(sum[:]); got != ni.NarHash || got != ni.FileHash {
		t.Errorf("GET %s: got hash %s; want NarHash and FileHash %s", url, got, ni.NarHash)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-nix-nar" {
		t.Errorf("GET %s: got Content-Type %q; want application/x-nix-nar", url, ct)
	}
	head, body, err := fetch(t, http.MethodHead, url)
	check(t, err)
	if got, want := head.Header.Get("Content-Length"), strconv.FormatUint(ni.NarSize, 10); head.StatusCode != http.StatusOK ||
		len(body) != 0 || got != want {
		t.Errorf("HEAD %s: got status %d, %d body bytes, Content-Length %q; want 200, 0, %q",
			url, head.StatusCode, len(body), got, want)
	}
	return nar
}

// decompress returns the content of an xz file, decompressed by xz itself.
func decompress(t *testing.T, file string) []byte {
	t.Helper()
	out, err := exec.Command("xz", "-dc", file).Output()
	if err != nil {
		t.Fatalf("xz -dc %s: %v", file, err)
	}
	return out
}

// unzstd checks a zstd-compressed NAR response and returns the NAR.
func unzstd(t *testing.T, url string, resp *http.Response, body []byte, ni *narinfo.NarInfo) []byte {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/zstd" {
		t.Errorf("GET %s: got Content-Type %q; want application/zstd", url, ct)
	}
	cmd := exec.Command("zstd", "-dc")
	cmd.Stdin = bytes.NewReader(body)
	nar, err := cmd.Output()
	if err != nil {
		t.Fatalf("GET %s: zstd -dc of %d bytes: %v", url, len(body), err)
	}
	sum := sha256.Sum256(nar)
	if got := "sha256:" + nixbase32.EncodeToString(sum[:]); uint64(len(nar)) != ni.NarSize || got != ni.NarHash {
		t.Errorf("GET %s: got %d bytes with hash %s; want %d, %s", url, len(nar), got, ni.NarSize, ni.NarHash)
	}
	return nar
}
