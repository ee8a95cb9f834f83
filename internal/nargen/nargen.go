package nargen

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"

	"github.com/nardedup/nardedup/narfmt"
	"github.com/nardedup/nardedup/narfmt/nixbase32"
	"github.com/nardedup/nardedup/narfmt/storepath"
)

// Shape parameters: files per directory, the pool of store paths files
// refer to, and the bounds of a file's size.
const (
	filesPerDir = 200
	poolSize    = 300
	minFile     = 256
	maxFile     = 4 << 20
	bigFile     = 48 << 20 // now and then one file this large
)

// Write writes a NAR of about size bytes (at least a few hundred; the
// last file is cut to fit, so it is exact to within the framing of one
// entry) drawn from seed to w, under storeDir (e.g. "/nix/store").
func Write(w io.Writer, size int64, seed uint64, storeDir string) error {
	r := rand.New(rand.NewPCG(seed, 0x6e6172))
	pool := make([]string, poolSize)
	for i := range pool {
		h := make([]byte, storepath.HashLen)
		for k := range h {
			h[k] = nixbase32.Alphabet[r.IntN(32)]
		}
		pool[i] = fmt.Sprintf("%s/%s-pkg%d-%d.%d", storeDir, h, i, r.IntN(9), r.IntN(20))
	}
	nw := narfmt.NewWriter(w)
	var written int64 // about what nw has taken
	err := nw.WriteHeader(&narfmt.Header{Path: "/", Type: narfmt.TypeDirectory})
	var buf []byte
	for d := 0; err == nil; d++ {
		dir := fmt.Sprintf("/d%05d", d)
		if err = nw.WriteHeader(&narfmt.Header{Path: dir, Type: narfmt.TypeDirectory}); err != nil {
			break
		}
		done := false
		for f := 0; f < filesPerDir && err == nil; f++ {
			path := fmt.Sprintf("%s/f%04d", dir, f)
			if r.IntN(50) == 0 {
				err = nw.WriteHeader(&narfmt.Header{Path: path, Type: narfmt.TypeSymlink,
					LinkTarget: pool[r.IntN(len(pool))] + "/lib"})
				continue
			}
			n := fileSize(r)
			if left := size - written - 1024; int64(n) >= left {
				n, done = int(max(left, 0)), true
			}
			buf = content(buf[:0], r, n, pool)
			err = nw.WriteHeader(&narfmt.Header{Path: path, Type: narfmt.TypeRegular,
				Executable: r.IntN(8) == 0, Size: int64(len(buf))})
			if err == nil {
				_, err = nw.Write(buf)
			}
			written += int64(len(buf)) + 200 // contents and about the framing of an entry
			if done {
				break
			}
		}
		if done {
			break
		}
	}
	if err == nil {
		err = nw.Close()
	}
	if err != nil {
		return fmt.Errorf("nargen: %w", err)
	}
	return nil
}

// fileSize draws a file size: log-uniform between minFile and maxFile,
// and one in 200 files bigFile.
func fileSize(r *rand.Rand) int {
	if r.IntN(200) == 0 {
		return bigFile
	}
	return int(math.Exp(math.Log(minFile) + r.Float64()*(math.Log(maxFile)-math.Log(minFile))))
}

// content appends n bytes of one kind of content to b: text with store
// paths (half the files), random bytes (a third) or a repeated pattern.
func content(b []byte, r *rand.Rand, n int, pool []string) []byte {
	switch k := r.IntN(6); {
	case k < 3:
		for len(b) < n {
			b = appendText(b, r, min(512+r.IntN(4096), n-len(b)))
			b = append(b, pool[r.IntN(len(pool))]...)
			b = append(b, "/lib\n"...)
		}
		return b[:n]
	case k < 5:
		for len(b) < n {
			x := r.Uint64()
			for s := 0; s < 64 && len(b) < n; s += 8 {
				b = append(b, byte(x>>s))
			}
		}
		return b
	default:
		pat := fmt.Sprintf("pattern %d\x00\x00\x00\x00", r.IntN(1000))
		for len(b) < n {
			b = append(b, pat[:min(len(pat), n-len(b))]...)
		}
		return b
	}
}

// words make up the text of text files.
var words = []string{"the", "lib", "error", "file", "in", "of", "int", "char", "return", "%s", "config",
	"value", "if", "not", "found", "path", "void", "static", "const", "usage:", "--help", "0x", "=", "\n"}

// appendText appends n bytes of words drawn from a short list, which
// compress about as well as the strings of a binary.
func appendText(b []byte, r *rand.Rand, n int) []byte {
	for end := len(b) + n; len(b) < end; {
		w := words[r.IntN(len(words))]
		b = append(b, w[:min(len(w), end-len(b))]...)
		if len(b) < end {
			b = append(b, ' ')
		}
	}
	return b
}
