package server_test

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nardedup/nardedup/internal/nixtest"
	"github.com/nardedup/nardedup/internal/sample"
	"github.com/nardedup/nardedup/server"
)

const (
	testToken    = "tok-0123456789abcdef"
	testUser     = "alice"
	testPassword = "wonder:land-42" // a colon in a password is allowed
)

func testAuth(t *testing.T) *server.Auth {
	t.Helper()
	dir := t.TempDir()
	tokens, basic := filepath.Join(dir, "tokens"), filepath.Join(dir, "basic")
	check(t, os.WriteFile(tokens, []byte("# CI\n\n  "+testToken+"  \nother-token\n"), 0o600))
	check(t, os.WriteFile(basic, []byte(testUser+":"+testPassword+"\n"), 0o600))
	auth := &server.Auth{}
	check(t, auth.LoadTokenFile(tokens))
	check(t, auth.LoadBasicFile(basic))
	return auth
}

// authStatus sends method target with the Authorization header authz (none
// if empty) and returns the status and WWW-Authenticate headers.
func authStatus(t *testing.T, method, url, authz string) (int, []string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	check(t, err)
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := http.DefaultClient.Do(req)
	check(t, err)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Values("WWW-Authenticate")
}

func basicHeader(user, password string) string {
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.SetBasicAuth(user, password)
	return req.Header.Get("Authorization")
}

func TestAuth(t *testing.T) {
	r := newRepo(t)
	u := r.largest(t)
	base := "http://" + r.serveReal(t, server.Options{Auth: testAuth(t)}, server.HTTPOptions{})
	good := []string{"Bearer " + testToken, "bearer other-token", basicHeader(testUser, testPassword), basicHeader("nix", testToken)}
	bad := []string{"", "Bearer " + testToken[:len(testToken)-1], "Bearer " + testToken + "x", "Bearer",
		"Token " + testToken, basicHeader(testUser, "wonder"), basicHeader("bob", testPassword),
		basicHeader(testUser+":"+testPassword, ""), "Basic !!!"}
	for _, target := range []string{"/nix-cache-info", "/" + u.hash + ".narinfo", "/nar/" + narName(t, u.ni) + ".nar.zst"} {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			for _, authz := range good {
				if code, _ := authStatus(t, method, base+target, authz); code != http.StatusOK {
					t.Errorf("%s %s with %q: got status %d; want 200", method, target, authz, code)
				}
			}
			for _, authz := range bad {
				code, challenge := authStatus(t, method, base+target, authz)
				if code != http.StatusUnauthorized || len(challenge) != 2 ||
					!strings.HasPrefix(challenge[0], "Basic ") || !strings.HasPrefix(challenge[1], "Bearer ") {
					t.Errorf("%s %s with %q: got status %d, WWW-Authenticate %q; want 401 with Basic and Bearer",
						method, target, authz, code, challenge)
				}
			}
		}
		// Credentials do not open a way to write.
		if code, _ := authStatus(t, http.MethodPut, base+target, good[0]); code != http.StatusMethodNotAllowed {
			t.Errorf("PUT %s with a token: got status %d; want 405", target, code)
		}
	}
}

func TestAuthFiles(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"empty": "", "comments": "# only\n\n", "no-colon": "alice\n", "no-user": ":pw\n", "no-password": "alice:\n",
	} {
		file := filepath.Join(dir, name)
		check(t, os.WriteFile(file, []byte(content), 0o600))
		if err := (&server.Auth{}).LoadBasicFile(file); err == nil {
			t.Errorf("LoadBasicFile of %q: got nil error; want one", content)
		}
		if name != "empty" && name != "comments" {
			continue // valid tokens
		}
		if err := (&server.Auth{}).LoadTokenFile(file); err == nil {
			t.Errorf("LoadTokenFile of %q: got nil error; want one", content)
		}
	}
	if err := (&server.Auth{}).LoadTokenFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("LoadTokenFile of a missing file: got nil error; want one")
	}
}

// nixCopyNetrc runs nix copy of path from url with the netrc file, if
// any, and returns whether the path arrived and Nix's output.
func nixCopyNetrc(t *testing.T, url, netrc, path string) (bool, string) {
	t.Helper()
	dir := t.TempDir()
	args := []string{"--extra-experimental-features", "nix-command", "copy", "--from", url,
		"--to", filepath.Join(dir, "store"), "--option", "trusted-public-keys", sample.PublicKey(),
		"--option", "require-sigs", "true", "--option", "connect-timeout", "5"}
	if netrc != "" {
		args = append(args, "--option", "netrc-file", netrc)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "nix", append(args, path)...)
	cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+filepath.Join(dir, "cache"), "NIX_REMOTE=")
	out, err := cmd.CombinedOutput()
	_, serr := os.Lstat(filepath.Join(dir, "store", path))
	return err == nil && serr == nil, string(out)
}

// TestNixNetrc has real Nix substitute from a server requiring basic auth:
// with the credentials in a netrc file it succeeds, without them or with a
// wrong password it fails.
func TestNixNetrc(t *testing.T) {
	nixtest.Require(t)
	r := newRepo(t)
	opts, log := loggingOptions()
	opts.Auth = testAuth(t)
	addr := r.serveReal(t, opts, server.HTTPOptions{})
	host, _, _ := strings.Cut(addr, ":")
	path := samplePaths()[0]
	dir := t.TempDir()
	netrc := func(name, password string) string {
		file := filepath.Join(dir, name)
		check(t, os.WriteFile(file, []byte("machine "+host+" login "+testUser+" password "+password+"\n"), 0o600))
		return file
	}
	if ok, out := nixCopyNetrc(t, "http://"+addr, netrc("good", testPassword), path); !ok {
		t.Errorf("nix copy with the netrc file failed:\n%s\nserver log:\n%s", out, log)
	}
	if ok, out := nixCopyNetrc(t, "http://"+addr, "", path); ok {
		t.Errorf("nix copy without credentials succeeded; want failure\n%s", out)
	}
	if ok, out := nixCopyNetrc(t, "http://"+addr, netrc("wrong", "nope"), path); ok {
		t.Errorf("nix copy with a wrong password succeeded; want failure\n%s", out)
	} else {
		t.Logf("nix copy with a wrong password: %s", out)
	}
}
