package ingest

import (
	"bytes"
	"fmt"

	"github.com/nardedup/nardedup/narfmt/narinfo"
)

// magics are the first bytes of a file of each narinfo Compression value;
// "none" is a NAR's own magic.
var magics = map[string][]byte{
	"xz":    {0xfd, '7', 'z', 'X', 'Z', 0},
	"zstd":  {0x28, 0xb5, 0x2f, 0xfd},
	"bzip2": []byte("BZh"),
	"none":  append([]byte{13, 0, 0, 0, 0, 0, 0, 0}, "nix-archive-1"...),
}

// headLen is how many bytes of a file explainCompression needs.
const headLen = 21

// explainCompression says, if the file whose first bytes are head is not
// compression data, that the narinfo's Compression does not match its
// file: err, from the decoder or the NAR parser, would not say so.
func explainCompression(ni *narinfo.NarInfo, compression string, head []byte, err error) error {
	magic, ok := magics[compression]
	if !ok || bytes.HasPrefix(head, magic) {
		return err
	}
	what := compression + " data"
	if compression == "none" {
		what = "an uncompressed NAR"
	}
	return fmt.Errorf("%s: %s is not %s, though its narinfo says Compression: %s: %w", ni.StorePath, ni.URL, what, compression, err)
}
