package backendtest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/chunkstore/backend"
)

func testDelete(t *testing.T, b backend.Backend) {
	ctx := context.Background()
	put(t, b, "del/a", []byte("a"))
	put(t, b, "del/b", []byte("b"))
	if err := b.Delete(ctx, "del/a"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	absent(t, b, "del/a")
	wantErr(t, "second Delete", b.Delete(ctx, "del/a"), backend.ErrNotExist)
	sameKeys(t, "List after Delete", listKeys(t, b, ""), []string{"del/b"})
	equal(t, "Get survivor", get(t, b, "del/b", 0, -1), []byte("b"))
	put(t, b, "del/a", []byte("again"))
	equal(t, "Get re-put", get(t, b, "del/a", 0, -1), []byte("again"))
}

func testNotExist(t *testing.T, b backend.Backend) {
	ctx := context.Background()
	put(t, b, "file", []byte("x"))
	put(t, b, "dir/obj", []byte("y"))
	// "file/under" has an object as parent; "dir" is only a key prefix.
	for _, key := range []string{"missing", "no/such/key", "file/under", "dir", "dir/ob", "fil"} {
		rc, err := b.Get(ctx, key, 0, -1)
		if err == nil {
			rc.Close()
		}
		wantErr(t, "Get "+key, err, backend.ErrNotExist)
		_, err = b.Stat(ctx, key)
		wantErr(t, "Stat "+key, err, backend.ErrNotExist)
		wantErr(t, "Delete "+key, b.Delete(ctx, key), backend.ErrNotExist)
	}
	sameKeys(t, "List", listKeys(t, b, ""), []string{"file", "dir/obj"})
}

// invalidKeys breaks each rule of backend.ValidKey.
var invalidKeys = []string{
	"", "/", "/a", "a/", "a//b", ".", "..", "./a", "a/.", "a/./b",
	"../a", "a/..", "a/../b", "../../etc/passwd", "/etc/passwd",
	"a\\b", "..\\a", "a\x00b",
}

func testInvalidKeys(t *testing.T, b backend.Backend) {
	ctx := context.Background()
	for _, key := range invalidKeys {
		err := b.Put(ctx, key, strings.NewReader("x"), 1)
		wantErr(t, "Put "+key, err, backend.ErrInvalidKey)
		rc, err := b.Get(ctx, key, 0, -1)
		if err == nil {
			rc.Close()
		}
		wantErr(t, "Get "+key, err, backend.ErrInvalidKey)
		_, err = b.Stat(ctx, key)
		wantErr(t, "Stat "+key, err, backend.ErrInvalidKey)
		wantErr(t, "Delete "+key, b.Delete(ctx, key), backend.ErrInvalidKey)
		if !backend.IsPermanent(err) {
			t.Errorf("IsPermanent(%v) = false", err)
		}
	}
	sameKeys(t, "List", listKeys(t, b, ""), nil)
}

func testSizeMismatch(t *testing.T, b backend.Backend) {
	ctx := context.Background()
	old := []byte("old content")
	put(t, b, "kept", old)
	tests := []struct {
		name string
		data []byte
		size int64
	}{
		{"short", Pattern(100, 1), 101},
		{"long", Pattern(100, 1), 99},
		{"empty but announced", nil, 1},
		{"large short", Pattern(1<<20, 2), 1<<20 + 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := b.Put(ctx, "new", bytes.NewReader(tc.data), tc.size)
			if err == nil {
				t.Fatal("Put succeeded")
			}
			absent(t, b, "new")
			if err := b.Put(ctx, "kept", bytes.NewReader(tc.data), tc.size); err == nil {
				t.Fatal("overwriting Put succeeded")
			}
			equal(t, "old object", get(t, b, "kept", 0, -1), old)
		})
	}
	sameKeys(t, "List", listKeys(t, b, ""), []string{"kept"})
}

// failingReader yields n bytes and then err.
type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

func testReaderError(t *testing.T, b backend.Backend) {
	ctx := context.Background()
	old := []byte("old")
	put(t, b, "kept", old)
	boom := errors.New("reader broke")
	for _, key := range []string{"new", "kept"} {
		r := &failingReader{r: bytes.NewReader(Pattern(300_000, 1)), err: boom}
		if err := b.Put(ctx, key, r, 1_000_000); err == nil {
			t.Fatalf("Put(%q) with failing reader succeeded", key)
		}
		if err := b.Put(ctx, key, &failingReader{r: bytes.NewReader(nil), err: boom}, -1); err == nil {
			t.Fatalf("Put(%q, size -1) with failing reader succeeded", key)
		}
	}
	absent(t, b, "new")
	equal(t, "old object", get(t, b, "kept", 0, -1), old)
}

func testOverwrite(t *testing.T, b backend.Backend) {
	v1, v2 := Pattern(5000, 1), Pattern(3000, 2)
	put(t, b, "obj", v1)
	put(t, b, "obj", v2)
	equal(t, "Get", get(t, b, "obj", 0, -1), v2)
	got := listKeys(t, b, "")
	sameKeys(t, "List", got, []string{"obj"})
	if got["obj"] != int64(len(v2)) {
		t.Fatalf("List size %d, want %d", got["obj"], len(v2))
	}
	put(t, b, "obj", v2) // identical content, as nardedup does
	equal(t, "Get", get(t, b, "obj", 0, -1), v2)
}
