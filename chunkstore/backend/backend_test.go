package backend_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"
	"testing"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/mem"
)

func TestValidKey(t *testing.T) {
	tests := []struct {
		key   string
		valid bool
	}{
		{"a", true},
		{"packs/3f/3fa0", true},
		{"..a/b..", true},
		{".hidden", true},
		{"a b/ü", true},
		{"...", true},
		{"", false},
		{"/", false},
		{"/a", false},
		{"a/", false},
		{"a//b", false},
		{".", false},
		{"..", false},
		{"a/./b", false},
		{"a/../b", false},
		{"../a", false},
		{"a/..", false},
		{"a\\b", false},
		{"a\x00", false},
	}
	for _, tc := range tests {
		err := backend.ValidKey(tc.key)
		if (err == nil) != tc.valid {
			t.Errorf("ValidKey(%q) = %v, want valid %v", tc.key, err, tc.valid)
		}
		if err != nil && !errors.Is(err, backend.ErrInvalidKey) {
			t.Errorf("ValidKey(%q) = %v, does not wrap ErrInvalidKey", tc.key, err)
		}
	}
}

func TestIsPermanent(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("connection reset"), false},
		{io.ErrUnexpectedEOF, false},
		{fmt.Errorf("x: %w", backend.ErrNotExist), true},
		{fmt.Errorf("x: %w", backend.ErrInvalidKey), true},
		{fmt.Errorf("x: %w", backend.ErrSizeMismatch), true},
		{fmt.Errorf("x: %w", context.Canceled), true},
		{context.DeadlineExceeded, true},
		{fmt.Errorf("x: %w", syscall.ENOSPC), true},
		{backend.Permanent(errors.New("access denied")), true},
		{fmt.Errorf("y: %w", backend.Permanent(errors.New("bad"))), true},
	}
	for _, tc := range tests {
		if got := backend.IsPermanent(tc.err); got != tc.want {
			t.Errorf("IsPermanent(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	if backend.Permanent(nil) != nil {
		t.Error("Permanent(nil) != nil")
	}
	inner := errors.New("inner")
	if p := backend.Permanent(inner); !errors.Is(p, inner) || p.Error() != "inner" {
		t.Errorf("Permanent does not wrap transparently: %v", p)
	}
}

func TestPutBytesReadAll(t *testing.T) {
	ctx := context.Background()
	b := mem.New()
	if err := backend.PutBytes(ctx, b, "k", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	got, err := backend.ReadAll(ctx, b, "k")
	if err != nil || string(got) != "hello" {
		t.Fatalf("ReadAll = %q, %v", got, err)
	}
	if _, err := backend.ReadAll(ctx, b, "missing"); !errors.Is(err, backend.ErrNotExist) {
		t.Fatalf("ReadAll(missing) = %v, want ErrNotExist", err)
	}
}
