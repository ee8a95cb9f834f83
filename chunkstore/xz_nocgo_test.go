//go:build !cgo

package chunkstore

import (
	"bytes"
	"context"
	"math/rand"
	"os/exec"
	"testing"
)

// A build without cgo reads the xz frames liblzma writes (here: the xz
// program, with the same format options), whole or their head, and
// refuses a damaged one.
func TestDecodeXZWithoutCgo(t *testing.T) {
	if _, err := exec.LookPath("xz"); err != nil {
		t.Skip("no xz program")
	}
	data := make([]byte, 3<<20)
	rand.New(rand.NewSource(1)).Read(data[:1<<20])
	copy(data[1<<20:], data[:1<<20])
	cmd := exec.Command("xz", "-c", "-6", "--check=none")
	cmd.Stdin = bytes.NewReader(data)
	comp, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(comp, xzMagic) {
		t.Fatalf("xz wrote %x", comp[:6])
	}
	ctx := context.Background()
	got := make([]byte, len(data))
	if err := decodeXZ(ctx, comp, got, true); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("whole frame: %v", err)
	}
	head := make([]byte, 100)
	if err := decodeXZ(ctx, comp, head, false); err != nil || !bytes.Equal(head, data[:100]) {
		t.Fatalf("head: %v", err)
	}
	if err := decodeXZ(ctx, comp, make([]byte, len(data)-1), true); err == nil {
		t.Fatal("frame longer than said: no error")
	}
	bad := bytes.Clone(comp)
	bad[len(bad)/2] ^= 0x55
	if err := decodeXZ(ctx, bad, got, true); err == nil && bytes.Equal(got, data) {
		t.Fatal("damaged frame decoded as the original")
	}
}
