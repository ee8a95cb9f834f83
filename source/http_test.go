package source_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nardedup/nardedup/internal/nixtest"
	"github.com/nardedup/nardedup/source"
)

func httpSource(t *testing.T, rawURL string) source.Source {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return source.NewHTTP(u, nil)
}

// listed gives an HTTP source the hashes of a test cache as store paths.
func listed(t *testing.T, src source.Source, c testCache) source.Source {
	t.Helper()
	var paths strings.Builder
	for h := range c.NARs {
		paths.WriteString("/nix/store/" + h + "-tree\n")
	}
	hashes, err := source.ListFrom(strings.NewReader(paths.String()))
	if err != nil {
		t.Fatal(err)
	}
	if src, err = source.WithHashes(src, hashes); err != nil {
		t.Fatal(err)
	}
	return src
}

func TestHTTPRealCache(t *testing.T) {
	c := buildCache(t, "zstd", 2)
	srv := httptest.NewServer(http.StripPrefix("/cache", http.FileServer(http.Dir(c.Dir))))
	defer srv.Close()
	src := httpSource(t, srv.URL+"/cache")
	err := src.List(context.Background(), func(string) error { return nil })
	if !errors.Is(err, source.ErrNoListing) {
		t.Errorf("List = %v, want ErrNoListing", err)
	}
	checkCache(t, listed(t, src, c), c, "zstd")
	ctx := context.Background()
	if info, err := src.CacheInfo(ctx); err != nil || !strings.Contains(string(info), "StoreDir:") {
		t.Errorf("CacheInfo = %q, %v", info, err)
	}
	if _, err := src.NarInfo(ctx, "11111111111111111111111111111111"); !errors.Is(err, source.ErrNotFound) {
		t.Errorf("missing narinfo: %v, want ErrNotFound", err)
	}
	for _, u := range []string{"../x", "/etc/passwd", "nar/../../x", "http://elsewhere.invalid/x", "nar/%2e%2e/x"} {
		if rc, err := src.Open(ctx, u); err == nil {
			rc.Close()
			t.Errorf("Open(%q) succeeded", u)
		}
	}
}

// TestHTTPPythonServer serves a cache with python3 -m http.server once.
func TestHTTPPythonServer(t *testing.T) {
	nixtest.RequireTool(t, "python3")
	c := buildCache(t, "xz", 1)
	cmd := exec.Command("python3", "-u", "-m", "http.server", "--bind", "127.0.0.1", "--directory", c.Dir, "0")
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n') // Serving HTTP on 127.0.0.1 port N (...)
	fields := strings.Fields(line)
	if err != nil || len(fields) < 6 || fields[4] != "port" {
		t.Fatalf("python3 http.server said %q, %v", line, err)
	}
	go io.Copy(io.Discard, stdout)
	checkCache(t, listed(t, httpSource(t, "http://127.0.0.1:"+fields[5]+"/"), c), c, "xz")
}

func TestHTTPErrors(t *testing.T) {
	hang := make(chan struct{})
	defer close(hang)
	mux := http.NewServeMux()
	mux.HandleFunc("/boom/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "database on fire", http.StatusInternalServerError)
	})
	mux.HandleFunc("/gone/", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusGone) })
	mux.HandleFunc("/hang/", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/big/", func(w http.ResponseWriter, r *http.Request) {
		for range source.MaxNarInfoSize/1000 + 2 {
			w.Write([]byte(strings.Repeat("x", 1000)))
		}
	})
	mux.HandleFunc("/bigdeclared/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100000000")
		w.Write([]byte("x"))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	const hash = "0bsw3a0avj9mkii0rbfxpvr7clrx95x6"
	for _, tc := range []struct {
		base string
		want error  // errors.Is target, or nil for any error
		text string // in the message
	}{
		{"/missing/", source.ErrNotFound, "404"},
		{"/gone/", source.ErrNotFound, "410"},
		{"/boom/", nil, "database on fire"},
		{"/hang/", context.DeadlineExceeded, ""},
		{"/big/", source.ErrTooLarge, ""},
		{"/bigdeclared/", source.ErrTooLarge, ""},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		start := time.Now()
		_, err := httpSource(t, srv.URL+tc.base).NarInfo(ctx, hash)
		cancel()
		switch {
		case err == nil:
			t.Errorf("%s: no error", tc.base)
		case tc.want != nil && !errors.Is(err, tc.want), !strings.Contains(err.Error(), tc.text):
			t.Errorf("%s: %v, want %v mentioning %q", tc.base, err, tc.want, tc.text)
		case time.Since(start) > 5*time.Second:
			t.Errorf("%s: took %v", tc.base, time.Since(start))
		}
	}
}

func TestHTTPStalledBody(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000000")
		w.Write([]byte("first bytes"))
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer source.SetHTTPIdleTimeout(200 * time.Millisecond)()
	rc, err := httpSource(t, srv.URL).Open(context.Background(), "nar/x.nar.xz")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	start := time.Now()
	b, err := io.ReadAll(rc)
	if err == nil || !strings.Contains(err.Error(), "no data received") || time.Since(start) > 5*time.Second {
		t.Errorf("stalled body: read %q, %v after %v", b, err, time.Since(start))
	}
}

func TestListFrom(t *testing.T) {
	in := "# gen-1\n/nix/store/zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz-b\n\n" +
		"  /nix/store/0bsw3a0avj9mkii0rbfxpvr7clrx95x6-readline-8.2  \n" +
		"0bsw3a0avj9mkii0rbfxpvr7clrx95x6\n00000000000000000000000000000000.narinfo\n"
	got, err := source.ListFrom(strings.NewReader(in))
	want := []string{"00000000000000000000000000000000", "0bsw3a0avj9mkii0rbfxpvr7clrx95x6", "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("ListFrom = %v, %v; want %v", got, err, want)
	}
	for _, bad := range []string{"/nix/store/short-x\n", "/nix/store/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-x\n", "hello\n"} {
		if got, err := source.ListFrom(strings.NewReader(bad)); err == nil {
			t.Errorf("ListFrom(%q) = %v, want an error", bad, got)
		}
	}
	if _, err := source.WithHashes(source.NewDir(t.TempDir()), []string{"../x"}); err == nil {
		t.Error("WithHashes accepted an invalid hash")
	}
}
