package server_test

import (
	"bytes"
	"context"
	"net/http"
	"testing"

	"github.com/nardedup/nardedup/retention"
	"github.com/nardedup/nardedup/server"
)

// A forgotten store path is 404 to Nix at once, tombstone or not, while
// the paths kept are served as before. Its NAR stays until garbage
// collection, and tombstones are never served.
func TestForgottenPathIsNotFound(t *testing.T) {
	r := newRepo(t)
	ts := r.serve(t, server.Options{Compression: "none"})
	infos := r.upstream(t)
	forgotten, tombstoned, kept := infos[0], infos[1], infos[2:]
	ctx := context.Background()
	for _, f := range []struct {
		u         upstreamInfo
		tombstone bool
	}{{forgotten, false}, {tombstoned, true}} {
		getNarInfo(t, ts.URL, f.u.hash) // served before
		rep, err := retention.Forget(ctx, r.st, retention.Rule{Paths: []string{f.u.hash}}, retention.Options{Tombstones: f.tombstone})
		check(t, err)
		if len(rep.Forgotten) != 1 {
			t.Fatalf("forgot %d paths; want 1", len(rep.Forgotten))
		}
	}
	text, err := r.st.Tombstone(ctx, tombstoned.hash)
	check(t, err)
	if !bytes.Equal(text, tombstoned.text) {
		t.Errorf("tombstone of %s is not the upstream narinfo:\n%s", tombstoned.hash, text)
	}

	for _, u := range []upstreamInfo{forgotten, tombstoned} {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			resp, _, err := fetch(t, method, ts.URL+"/"+u.hash+".narinfo")
			check(t, err)
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("%s narinfo of forgotten %s: status %d; want 404", method, u.ni.StorePath, resp.StatusCode)
			}
		}
		resp, _, err := fetch(t, http.MethodGet, ts.URL+"/nar/"+narName(t, u.ni)+".nar")
		check(t, err)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("NAR of forgotten %s before garbage collection: status %d; want 200", u.ni.StorePath, resp.StatusCode)
		}
	}
	for _, path := range []string{"/tombstones/" + tombstoned.hash + ".narinfo", "/tombstones/" + tombstoned.hash} {
		resp, _, err := fetch(t, http.MethodGet, ts.URL+path)
		check(t, err)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d; want 404", path, resp.StatusCode)
		}
	}
	for _, u := range kept {
		served := getNarInfo(t, ts.URL, u.hash)
		if !bytes.Contains(served, []byte("StorePath: "+u.ni.StorePath+"\n")) {
			t.Errorf("narinfo of kept %s:\n%s", u.ni.StorePath, served)
		}
	}
}
