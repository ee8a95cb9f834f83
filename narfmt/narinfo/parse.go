package narinfo

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/nardedup/nardedup/narfmt/storepath"
)

var errNoNewline = errors.New("last line does not end in a newline")

// scanLines is bufio.ScanLines without the tolerance for a missing final
// newline or for "\r\n".
func scanLines(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return 0, nil, errNoNewline
	}
	return 0, nil, nil
}

// Parse reads a narinfo for the default store directory /nix/store.
func Parse(r io.Reader) (*NarInfo, error) {
	return ParseStoreDir(r, storepath.DefaultStoreDir)
}

// ParseStoreDir reads a narinfo whose StorePath must lie in storeDir, as
// Nix's parser checks it against the store it reads for. It reads at most
// MaxSize bytes.
func ParseStoreDir(r io.Reader, storeDir string) (*NarInfo, error) {
	if err := storepath.ValidateStoreDir(storeDir); err != nil {
		return nil, err
	}
	lr := &io.LimitedReader{R: r, N: MaxSize + 1}
	sc := bufio.NewScanner(lr)
	sc.Buffer(make([]byte, 0, 4096), MaxSize+1)
	sc.Split(scanLines)
	p := parser{n: &NarInfo{}, storeDir: storeDir, seen: make(map[string]bool)}
	lineNo, total := 0, 0
	for sc.Scan() {
		lineNo++
		total += len(sc.Bytes()) + 1
		if total > MaxSize {
			return nil, fmt.Errorf("narinfo: longer than %d bytes", MaxSize)
		}
		if err := p.line(sc.Text()); err != nil {
			return nil, fmt.Errorf("narinfo: line %d: %w", lineNo, err)
		}
	}
	switch err := sc.Err(); {
	case lr.N <= 0 || errors.Is(err, bufio.ErrTooLong):
		return nil, fmt.Errorf("narinfo: longer than %d bytes", MaxSize)
	case errors.Is(err, errNoNewline):
		return nil, fmt.Errorf("narinfo: line %d: %w", lineNo+1, err)
	case err != nil:
		return nil, fmt.Errorf("narinfo: %w", err)
	}
	if lineNo == 0 {
		return nil, errors.New("narinfo: empty")
	}
	for _, k := range []string{"StorePath", "URL", "NarHash", "NarSize"} {
		if !p.seen[k] {
			return nil, fmt.Errorf("narinfo: missing %s", k)
		}
	}
	return p.n, nil
}

type parser struct {
	n        *NarInfo
	storeDir string
	seen     map[string]bool
}

// line parses one line without its newline.
func (p *parser) line(s string) error {
	key, value, ok := strings.Cut(s, ": ")
	if !ok {
		return fmt.Errorf("%q is not of the form Key: value", s)
	}
	if err := checkKey(key); err != nil {
		return err
	}
	if err := checkValue(value); err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	if key != "Sig" && isKnown(key) {
		if p.seen[key] {
			return fmt.Errorf("%s: duplicate key", key)
		}
		p.seen[key] = true
	}
	if err := p.field(key, value); err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	p.n.Order = append(p.n.Order, key)
	return nil
}

func isKnown(key string) bool {
	return slices.Contains(nixOrder, key)
}

func checkKey(k string) error {
	if k == "" {
		return errors.New("empty key")
	}
	for i := 0; i < len(k); i++ {
		if k[i] <= ' ' || k[i] >= 0x7f || k[i] == ':' {
			return fmt.Errorf("key %q contains illegal character %q", k, k[i])
		}
	}
	return nil
}

func checkValue(v string) error {
	for i := 0; i < len(v); i++ {
		if v[i] < ' ' || v[i] == 0x7f {
			return fmt.Errorf("value contains control character %q", v[i])
		}
	}
	return nil
}
