package faulty_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"syscall"
	"testing"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/mem"
	"github.com/nardedup/nardedup/internal/backendtest"
	"github.com/nardedup/nardedup/internal/faulty"
)

func TestConformance(t *testing.T) {
	backendtest.Run(t, func(*testing.T) backend.Backend { return faulty.New(mem.New()) })
}

// putAll puts keys in order and returns which Puts failed.
func putAll(f *faulty.Backend, keys ...string) []bool {
	failed := make([]bool, len(keys))
	for i, k := range keys {
		failed[i] = backend.PutBytes(context.Background(), f, k, []byte(k)) != nil
	}
	return failed
}

func TestPutRules(t *testing.T) {
	keys := []string{"a/1", "b/1", "a/2", "a/3", "b/2", "a/4"}
	tests := []struct {
		name string
		rule faulty.Rule
		want string // one char per key: x failed, . passed
	}{
		{"every put", faulty.Rule{Op: faulty.OpPut}, "xxxxxx"},
		{"any op", faulty.Rule{}, "xxxxxx"},
		{"other op", faulty.Rule{Op: faulty.OpGet}, "......"},
		{"third put", faulty.Rule{Op: faulty.OpPut, Nth: 3, Times: 1}, "..x..."},
		{"third on", faulty.Rule{Op: faulty.OpPut, Nth: 3}, "..xxxx"},
		{"prefix", faulty.Rule{Op: faulty.OpPut, Prefix: "a/"}, "x.xx.x"},
		{"second of prefix twice", faulty.Rule{Prefix: "a/", Nth: 2, Times: 2}, "..xx.."},
		{"cut get ignores put", faulty.Rule{Kind: faulty.Truncate}, "......"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := faulty.New(mem.New())
			f.Inject(tc.rule)
			got := ""
			for _, failed := range putAll(f, keys...) {
				got += map[bool]string{true: "x", false: "."}[failed]
			}
			if got != tc.want {
				t.Fatalf("failures %s, want %s", got, tc.want)
			}
			if n := strings.Count(tc.want, "x"); f.Faults() != n {
				t.Errorf("Faults() = %d, want %d", f.Faults(), n)
			}
			if f.Calls(faulty.OpPut) != len(keys) || f.Calls(faulty.OpAny) != len(keys) {
				t.Errorf("Calls = %d put, %d any; want %d", f.Calls(faulty.OpPut), f.Calls(faulty.OpAny), len(keys))
			}
		})
	}
}

func TestPutFailVersusFailAfter(t *testing.T) {
	ctx := context.Background()
	for _, kind := range []faulty.Kind{faulty.Fail, faulty.FailAfter} {
		inner := mem.New()
		f := faulty.New(inner)
		f.Inject(faulty.Rule{Op: faulty.OpPut, Kind: kind, Err: faulty.ErrNoSpace})
		err := backend.PutBytes(ctx, f, "k", []byte("data"))
		if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "k") {
			t.Fatalf("kind %d: Put error %v, want ENOSPC naming the key", kind, err)
		}
		_, err = inner.Stat(ctx, "k")
		if stored := err == nil; stored != (kind == faulty.FailAfter) {
			t.Errorf("kind %d: stored = %v", kind, stored)
		}
	}
}

func TestPutCutStream(t *testing.T) {
	inner := mem.New()
	f := faulty.New(inner)
	f.Inject(faulty.Rule{Op: faulty.OpPut, Kind: faulty.CutStream, CutAfter: 3, Err: faulty.ErrNoSpace})
	err := backend.PutBytes(context.Background(), f, "k", []byte("0123456789"))
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Put error %v, want ENOSPC", err)
	}
	if _, err := inner.Stat(context.Background(), "k"); !errors.Is(err, backend.ErrNotExist) {
		t.Fatalf("inner Stat after cut Put: %v, want ErrNotExist", err)
	}
}

func TestGetKinds(t *testing.T) {
	tests := []struct {
		name     string
		rule     faulty.Rule
		getErr   bool
		want     string
		readErr  error
		injected int
	}{
		{"no rule", faulty.Rule{Op: faulty.OpStat}, false, "0123456789", nil, 0},
		{"fail", faulty.Rule{Op: faulty.OpGet}, true, "", nil, 1},
		{"fail after", faulty.Rule{Op: faulty.OpGet, Kind: faulty.FailAfter}, true, "", nil, 1},
		{"cut", faulty.Rule{Kind: faulty.CutStream, CutAfter: 4}, false, "0123", faulty.ErrInjected, 1},
		{"truncate", faulty.Rule{Kind: faulty.Truncate, CutAfter: 6}, false, "012345", nil, 1},
		{"other prefix", faulty.Rule{Prefix: "x/"}, false, "0123456789", nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := faulty.New(mem.New())
			if err := backend.PutBytes(context.Background(), f, "k", []byte("0123456789")); err != nil {
				t.Fatal(err)
			}
			f.Inject(tc.rule)
			rc, err := f.Get(context.Background(), "k", 0, -1)
			if (err != nil) != tc.getErr {
				t.Fatalf("Get error %v, want error: %v", err, tc.getErr)
			}
			if err != nil {
				if !errors.Is(err, faulty.ErrInjected) {
					t.Fatalf("Get error %v does not wrap ErrInjected", err)
				}
			} else {
				data, err := io.ReadAll(rc)
				rc.Close()
				if string(data) != tc.want || !errors.Is(err, tc.readErr) {
					t.Fatalf("read %q, %v; want %q, %v", data, err, tc.want, tc.readErr)
				}
			}
			if f.Faults() != tc.injected {
				t.Errorf("Faults() = %d, want %d", f.Faults(), tc.injected)
			}
		})
	}
}

func TestOtherOpsAndClear(t *testing.T) {
	ctx := context.Background()
	f := faulty.New(mem.New())
	if err := backend.PutBytes(ctx, f, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	f.Inject(faulty.Rule{Op: faulty.OpStat, Err: boom},
		faulty.Rule{Op: faulty.OpList, Err: boom},
		faulty.Rule{Op: faulty.OpDelete, Kind: faulty.FailAfter, Err: boom})
	if _, err := f.Stat(ctx, "k"); !errors.Is(err, boom) {
		t.Errorf("Stat: %v", err)
	}
	if err := f.List(ctx, "", func(backend.Info) error { return nil }); !errors.Is(err, boom) {
		t.Errorf("List: %v", err)
	}
	if err := f.Delete(ctx, "k"); !errors.Is(err, boom) {
		t.Errorf("Delete: %v", err)
	}
	f.Clear()
	if _, err := f.Stat(ctx, "k"); !errors.Is(err, backend.ErrNotExist) {
		t.Errorf("Stat after FailAfter Delete and Clear: %v, want ErrNotExist", err)
	}
	want := map[faulty.Op]int{faulty.OpPut: 1, faulty.OpStat: 2, faulty.OpList: 1, faulty.OpDelete: 1, faulty.OpAny: 5}
	for op, n := range want {
		if f.Calls(op) != n {
			t.Errorf("Calls(%s) = %d, want %d", op, f.Calls(op), n)
		}
	}
	if f.String() != "faulty(mem)" {
		t.Errorf("String() = %q", f.String())
	}
}
