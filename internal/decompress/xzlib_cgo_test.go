//go:build cgo && linux

package decompress

import (
	"bytes"
	"context"
	"io"
	"os/exec"
	"testing"
	"time"
)

// TestLibXZReusesDecoders checks that streams decoded one after the other
// share one liblzma decoder, and that each still decodes right.
func TestLibXZReusesDecoders(t *testing.T) {
	if !libXZAvailable() {
		t.Skip("liblzma cannot be loaded")
	}
	xzPath, err := exec.LookPath("xz")
	if err != nil {
		t.Skip("no xz program")
	}
	var made int64
	for i := range 5 {
		want := bytes.Repeat([]byte{byte('a' + i)}, 100<<10+i)
		cmd := exec.Command(xzPath, "-c")
		cmd.Stdin = bytes.NewReader(want)
		comp, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		rc, err := startLibXZ(context.Background(), bytes.NewReader(comp))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("stream %d: %d bytes, %v; want %d bytes", i, len(got), err, len(want))
		}
		// The decoder is let go once its goroutine has handed over the end.
		for deadline := time.Now().Add(5 * time.Second); len(idleDecoders) == 0; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("stream %d: its decoder was not kept", i)
			}
		}
		if i == 0 {
			made = decodersMade.Load()
		}
	}
	if n := decodersMade.Load() - made; n != 0 {
		t.Errorf("%d decoders made for 4 streams after the first, want none", n)
	}
}
