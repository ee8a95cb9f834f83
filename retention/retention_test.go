package retention_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nardedup/nardedup/narstore"
	"github.com/nardedup/nardedup/retention"
	"github.com/nardedup/nardedup/server"
)

const day = 24 * time.Hour

func TestForgetRules(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, r *repo)
		rule  retention.Rule
		gone  []string // store paths forgotten
		// what the report also says
		notFound, missingRoots, missingRefs []string
		protected, closure                  int
	}{{
		name:     "paths by store path and hash, one not in the repository",
		rule:     retention.Rule{Paths: []string{acl1, hashOf(zlib1), absent}},
		gone:     []string{acl1, zlib1},
		notFound: []string{absent},
	}, {
		name: "older than",
		setup: func(t *testing.T, r *repo) {
			r.age(t, 40*day, attr1, zlib1, bzip21)
			r.age(t, 10*day, acl1)
		},
		rule: retention.Rule{OlderThan: 30 * day},
		gone: []string{attr1, zlib1, bzip21},
	}, {
		name: "older than, counted from Now",
		setup: func(t *testing.T, r *repo) {
			r.age(t, 10*day, acl1)
		},
		rule: retention.Rule{OlderThan: 30 * day, Now: time.Now().Add(25 * day)},
		gone: []string{acl1},
	}, {
		name:         "keep-roots forgets all outside the closure",
		rule:         retention.Rule{KeepRoots: []string{acl3, absent}},
		gone:         except(acl3, attr3),
		missingRoots: []string{absent},
		closure:      2,
	}, {
		name:      "keep-roots by hash protects listed paths",
		rule:      retention.Rule{Paths: []string{attr3, zlib1}, KeepRoots: []string{hashOf(acl3)}},
		gone:      except(acl3, attr3),
		protected: 1,
		closure:   2,
	}, {
		name:      "keep-roots protects old paths",
		setup:     func(t *testing.T, r *repo) { r.age(t, 40*day, allPaths()...) },
		rule:      retention.Rule{OlderThan: 30 * day, KeepRoots: []string{acl1, zlib3}},
		gone:      except(acl1, attr1, zlib3),
		protected: 3,
		closure:   3,
	}, {
		name:  "paths and older than add up",
		setup: func(t *testing.T, r *repo) { r.age(t, 40*day, attr1) },
		rule:  retention.Rule{Paths: []string{zlib3}, OlderThan: 30 * day},
		gone:  []string{attr1, zlib3},
	}, {
		name: "a reference missing from the repository",
		setup: func(t *testing.T, r *repo) {
			_, err := retention.Forget(context.Background(), r.st, retention.Rule{Paths: []string{attr3}}, retention.Options{})
			must(t, err)
		},
		rule:        retention.Rule{KeepRoots: []string{acl3}},
		gone:        except(acl3, attr3),
		missingRefs: []string{hashOf(attr3)},
		closure:     1,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			r := newRepo(t)
			if tc.setup != nil {
				tc.setup(t, r)
			}
			before := r.narInfoPaths(t)
			rep, err := retention.Forget(ctx, r.st, tc.rule, retention.Options{})
			must(t, err)
			slices.Sort(tc.gone)
			if got := storePaths(rep.Forgotten); !slices.Equal(got, tc.gone) {
				t.Errorf("forgotten %q; want %q", got, tc.gone)
			}
			if got := storePaths(rep.Paths); !slices.Equal(got, tc.gone) {
				t.Errorf("selected %q; want %q", got, tc.gone)
			}
			want := slices.DeleteFunc(before, func(p string) bool { return slices.Contains(tc.gone, p) })
			if got := r.narInfoPaths(t); !slices.Equal(got, want) {
				t.Errorf("narinfos left %q; want %q", got, want)
			}
			if rep.Kept != len(want) {
				t.Errorf("kept %d; want %d", rep.Kept, len(want))
			}
			if n := r.narSizes(t, tc.gone); rep.NarBytes != n {
				t.Errorf("NarBytes %d; want %d", rep.NarBytes, n)
			}
			for _, p := range rep.Forgotten {
				if p.Hash != hashOf(p.StorePath) || p.NarSize <= 0 || p.Ingested.IsZero() {
					t.Errorf("forgotten path %+v: want its hash, NarSize and time", p)
				}
			}
			if !slices.Equal(rep.NotFound, tc.notFound) {
				t.Errorf("not found %q; want %q", rep.NotFound, tc.notFound)
			}
			if !slices.Equal(rep.MissingRoots, tc.missingRoots) {
				t.Errorf("missing roots %q; want %q", rep.MissingRoots, tc.missingRoots)
			}
			if rep.MissingRefs != len(tc.missingRefs) || !slices.Equal(rep.MissingRefSample, tc.missingRefs) {
				t.Errorf("missing references %d %q; want %q", rep.MissingRefs, rep.MissingRefSample, tc.missingRefs)
			}
			if rep.Protected != tc.protected || rep.Closure != tc.closure {
				t.Errorf("protected %d, closure %d; want %d, %d", rep.Protected, rep.Closure, tc.protected, tc.closure)
			}
			if rep.Tombstoned != 0 || rep.FreedBytes != -1 {
				t.Errorf("tombstoned %d, freed %d; want 0, -1", rep.Tombstoned, rep.FreedBytes)
			}
			// The NARs of the paths kept are still served whole.
			for _, p := range want {
				rc, _, err := r.st.Open(ctx, r.narHash(t, p))
				must(t, err)
				_, err = io.Copy(io.Discard, rc)
				rc.Close()
				if err != nil {
					t.Errorf("NAR of %s after forgetting: %v", p, err)
				}
			}
		})
	}
}

// Rules that cannot be applied are errors, and change nothing.
func TestForgetRefuses(t *testing.T) {
	r := newRepo(t)
	before := r.objects(t)
	for _, tc := range []struct {
		name string
		rule retention.Rule
		want string
	}{
		{"no rule", retention.Rule{}, "no rule"},
		{"empty keep-roots", retention.Rule{KeepRoots: []string{}}, "empty"},
		{"no keep-root in the repository", retention.Rule{KeepRoots: []string{absent}}, "none of the 1 keep-roots"},
		{"malformed path", retention.Rule{Paths: []string{acl1, "/nix/store/short"}}, `"/nix/store/short"`},
		{"path in another store", retention.Rule{Paths: []string{"/gnu/store/gcqgfxlb5qs7vgsasa4sg7f40hyf1ana-acl-2.3.1"}}, "/gnu/store"},
		{"malformed keep-root", retention.Rule{KeepRoots: []string{"acl"}}, `keep-root "acl"`},
		{"negative age", retention.Rule{OlderThan: -time.Hour}, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := retention.Forget(context.Background(), r.st, tc.rule, retention.Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Forget: %v (report %+v); want an error containing %q", err, rep, tc.want)
			}
		})
	}
	if after := r.objects(t); !sameObjects(before, after) {
		t.Errorf("refused rules changed the repository: %q before, %q after", sortedKeys(before), sortedKeys(after))
	}
}

func TestDryRunChangesNothing(t *testing.T) {
	r := newRepo(t)
	r.age(t, 40*day, zlib1)
	before := r.objects(t)
	var dropped map[string]bool
	rule := retention.Rule{Paths: []string{acl1}, OlderThan: 30 * day, KeepRoots: []string{acl3, acl1}}
	rep, err := retention.Forget(context.Background(), r.st, rule, retention.Options{
		DryRun: true, Tombstones: true,
		Freed: func(ctx context.Context, drop map[string]bool) (int64, error) {
			dropped = drop
			return 12345, nil
		},
	})
	must(t, err)
	if after := r.objects(t); !sameObjects(before, after) {
		t.Errorf("dry run changed the repository: %q before, %q after", sortedKeys(before), sortedKeys(after))
	}
	gone := except(acl3, attr3, acl1, attr1)
	if got := storePaths(rep.Forgotten); !slices.Equal(got, gone) {
		t.Errorf("would forget %q; want %q", got, gone)
	}
	if n := r.narSizes(t, gone); rep.NarBytes != n || rep.NarBytes == 0 {
		t.Errorf("NarBytes %d; want %d", rep.NarBytes, n)
	}
	if rep.Tombstoned != 0 || rep.Protected != 1 {
		t.Errorf("tombstoned %d, protected %d; want 0, 1", rep.Tombstoned, rep.Protected)
	}
	var hashes []string
	for _, p := range gone {
		hashes = append(hashes, hashOf(p))
	}
	if got := sortedKeys(dropped); !slices.Equal(got, hashes) || rep.FreedBytes != 12345 {
		t.Errorf("Freed called with %q and reported %d; want %q and 12345", got, rep.FreedBytes, hashes)
	}
}

func TestFreedErrorForgetsNothing(t *testing.T) {
	r := newRepo(t)
	before := r.objects(t)
	_, err := retention.Forget(context.Background(), r.st, retention.Rule{Paths: []string{acl1}}, retention.Options{
		Freed: func(context.Context, map[string]bool) (int64, error) { return 0, errors.New("no estimate") },
	})
	if err == nil || !strings.Contains(err.Error(), "no estimate") {
		t.Fatalf("Forget: %v; want the error of Freed", err)
	}
	if after := r.objects(t); !sameObjects(before, after) {
		t.Errorf("a failed estimate changed the repository")
	}
}

func TestTombstones(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t)
	ts := httptest.NewServer(server.New(r.st, server.Options{}))
	defer ts.Close()
	gone := []string{acl1, zlib1}
	rep, err := retention.Forget(ctx, r.st, retention.Rule{Paths: gone}, retention.Options{Tombstones: true})
	must(t, err)
	if rep.Tombstoned != 2 || len(rep.Forgotten) != 2 {
		t.Errorf("tombstoned %d, forgotten %d; want 2, 2", rep.Tombstoned, len(rep.Forgotten))
	}
	for _, p := range gone {
		h := hashOf(p)
		text, err := r.st.Tombstone(ctx, h)
		must(t, err)
		if want := r.upstream(t, p); string(text) != string(want) {
			t.Errorf("tombstone of %s:\n%s\nwant the upstream narinfo\n%s", p, text, want)
		}
		if _, err := r.st.NarInfo(ctx, h); !errors.Is(err, narstore.ErrNotFound) {
			t.Errorf("narinfo of %s after forgetting: %v; want ErrNotFound", p, err)
		}
		if code := status(t, ts.URL+"/"+h+".narinfo"); code != http.StatusNotFound {
			t.Errorf("GET narinfo of forgotten %s: %d; want 404", p, code)
		}
	}
	if code := status(t, ts.URL+"/"+hashOf(acl3)+".narinfo"); code != http.StatusOK {
		t.Errorf("GET narinfo of kept %s: %d; want 200", acl3, code)
	}
	var listed []string
	must(t, r.st.ListTombstones(ctx, func(h string) error { listed = append(listed, h); return nil }))
	slices.Sort(listed)
	want := []string{hashOf(acl1), hashOf(zlib1)}
	slices.Sort(want)
	if !slices.Equal(listed, want) {
		t.Errorf("tombstones listed %q; want %q", listed, want)
	}
	if _, err := r.st.Tombstone(ctx, hashOf(acl3)); !errors.Is(err, narstore.ErrNotFound) {
		t.Errorf("tombstone of a kept path: %v; want ErrNotFound", err)
	}
	must(t, r.st.DeleteTombstone(ctx, hashOf(acl1)))
	if err := r.st.DeleteTombstone(ctx, hashOf(acl1)); !errors.Is(err, narstore.ErrNotFound) {
		t.Errorf("deleting a deleted tombstone: %v; want ErrNotFound", err)
	}

	// Forgetting again finds nothing to forget.
	rep, err = retention.Forget(ctx, r.st, retention.Rule{Paths: gone}, retention.Options{Tombstones: true})
	must(t, err)
	if len(rep.Forgotten) != 0 || len(rep.NotFound) != 2 {
		t.Errorf("forgetting again: forgotten %d, not found %q; want none and both", len(rep.Forgotten), rep.NotFound)
	}
}

func TestParseList(t *testing.T) {
	good := "# roots\n\n" + acl1 + "\n  " + hashOf(zlib1) + "  # zlib\n\t\n" + attr3 + "\n"
	got, err := retention.ParseList(strings.NewReader(good), "/nix/store")
	must(t, err)
	if want := []string{acl1, hashOf(zlib1), attr3}; !slices.Equal(got, want) {
		t.Errorf("ParseList: %q; want %q", got, want)
	}
	if got, err := retention.ParseList(strings.NewReader("# nothing\n"), "/nix/store"); err != nil || got == nil || len(got) != 0 {
		t.Errorf("ParseList of comments: %q, %v; want an empty, non-nil list", got, err)
	}
	for _, tc := range []struct{ text, want string }{
		{acl1 + "\n\n" + "/nix/store/gcqgfxlb5qs7vgsasa4sg7f40hyf1ana\n", "line 3"},
		{"# x\n" + acl1 + "/bin/setfacl\n", "line 2"},
		{"/gnu/store/gcqgfxlb5qs7vgsasa4sg7f40hyf1ana-acl-2.3.1\n", "line 1"},
		{acl1 + "\nacl-2.3.1\n", "line 2"},
		{hashOf(acl1) + "e\n", "line 1"},
		{"\n\n\n" + strings.Repeat("x", 70000) + "\n", "line 4"},
	} {
		_, err := retention.ParseList(strings.NewReader(tc.text), "/nix/store")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseList(%.80q): %v; want an error naming %s", tc.text, err, tc.want)
		}
	}
	name := filepath.Join(t.TempDir(), "paths.txt")
	must(t, os.WriteFile(name, []byte(acl1+"\nnot-a-path\n"), 0o644))
	if _, err := retention.ReadList(name, "/nix/store"); err == nil || !strings.Contains(err.Error(), name+": line 2") {
		t.Errorf("ReadList: %v; want an error naming %s and line 2", err, name)
	}
}
