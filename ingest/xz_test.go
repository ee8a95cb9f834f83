package ingest_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/internal/nixtest"
	"github.com/nardedup/nardedup/narfmt/nixhash"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// xzCompress compresses r with the xz program.
func xzCompress(t testing.TB, r io.Reader) []byte {
	t.Helper()
	nixtest.RequireTool(t, "xz")
	cmd := exec.Command("xz", "-0", "--stdout")
	cmd.Stdin = r
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("xz: %v: %s", err, stderr.String())
	}
	return out
}

func sha256String(t testing.TB, data []byte) string {
	t.Helper()
	h, err := nixhash.Sum(nixhash.SHA256, data)
	must(t, err)
	return h.String()
}

// notANAR replaces the victim's NAR by a compressed text file and makes its
// narinfo match it exactly: only the NAR parser can tell.
func notANAR(d *damaged) {
	var text strings.Builder
	for i := 0; text.Len() < 20000; i++ {
		fmt.Fprintf(&text, "line %d of a text file that is not a NAR\n", i)
	}
	nar := []byte(text.String())
	file := xzCompress(d.t, bytes.NewReader(nar))
	d.writeNAR(file)
	ni := setField(d.ni, "NarHash", sha256String(d.t, nar))
	ni = setField(ni, "NarSize", itoa(int64(len(nar))))
	ni = setField(ni, "FileHash", sha256String(d.t, file))
	d.setNarInfo(setField(ni, "FileSize", itoa(int64(len(file)))))
}

// Bomb dimensions: a valid NAR of one regular file of bombSize zero bytes,
// as concatenated xz streams of bombPiece zeros each.
const (
	bombPiece = 64 << 20
	bombSize  = 256 * bombPiece // 16 GiB
)

// bomb replaces the victim's NAR file by a valid .nar.xz that decompresses
// to a 16 GiB NAR, leaving the narinfo's NarSize (62816) as it is. FileSize
// and FileHash match the bomb, so that only the NarSize limit can stop it.
func bomb(d *damaged) {
	var prefix bytes.Buffer
	for _, s := range []string{"nix-archive-1", "(", "type", "regular", "contents"} {
		narString(&prefix, s)
	}
	binary.Write(&prefix, binary.LittleEndian, uint64(bombSize))
	var suffix bytes.Buffer
	narString(&suffix, ")") // bombSize is a multiple of 8: no padding
	zeros := xzCompress(d.t, io.LimitReader(zeroReader{}, bombPiece))
	var file bytes.Buffer
	file.Write(xzCompress(d.t, &prefix))
	for i := 0; i < bombSize/bombPiece; i++ {
		file.Write(zeros)
	}
	file.Write(xzCompress(d.t, &suffix))
	d.writeNAR(file.Bytes())
	ni := setField(d.ni, "FileHash", sha256String(d.t, file.Bytes()))
	d.setNarInfo(setField(ni, "FileSize", itoa(int64(file.Len()))))
	d.t.Logf("bomb: %d byte .nar.xz, %d GiB NAR, NarSize %s", file.Len(), bombSize>>30, nixtest.Field(d.ni, "NarSize"))
}

func narString(b *bytes.Buffer, s string) {
	binary.Write(b, binary.LittleEndian, uint64(len(s)))
	b.WriteString(s)
	b.Write(make([]byte, (8-len(s)%8)%8))
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// checkBombRefusedEarly checks that ingest stopped reading the bomb long
// before its end.
func checkBombRefusedEarly(t *testing.T, cs *countingSource, d *damaged) {
	t.Helper()
	size := int64(len(d.readNAR()))
	if n := cs.read(nixtest.Field(d.ni, "URL")); n > size/2 {
		t.Errorf("read %d of the bomb's %d bytes; want it refused early", n, size)
	}
}
