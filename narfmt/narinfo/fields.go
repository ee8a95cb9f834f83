package narinfo

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nardedup/nardedup/narfmt/nixhash"
	"github.com/nardedup/nardedup/narfmt/storepath"
)

// field stores one key's value after validating it.
func (p *parser) field(key, value string) error {
	n := p.n
	var err error
	switch key {
	case "StorePath":
		_, err = storepath.Parse(p.storeDir, value)
		n.StorePath = value
	case "URL":
		if value == "" {
			err = errors.New("empty URL")
		}
		n.URL = value
	case "Compression":
		n.Compression = value
	case "FileHash":
		_, err = nixhash.Parse(value)
		n.FileHash = value
	case "FileSize":
		n.FileSize, err = parseSize(value)
	case "NarHash":
		_, err = nixhash.Parse(value)
		n.NarHash = value
	case "NarSize":
		n.NarSize, err = parseSize(value)
		if err == nil && n.NarSize == 0 {
			err = errors.New("NarSize is zero")
		}
	case "References":
		n.References, err = parseReferences(value)
	case "Deriver":
		if value != UnknownDeriver {
			_, err = storepath.ParseBase(value)
		}
		n.Deriver = value
	case "System":
		n.System = value
	case "Sig":
		n.Sigs = append(n.Sigs, value)
	case "CA":
		err = checkCA(value)
		n.CA = value
	default:
		n.Extra = append(n.Extra, Field{Key: key, Value: value})
	}
	return err
}

// parseSize parses a canonical decimal uint64: digits only, no sign, no
// leading zeros.
func parseSize(s string) (uint64, error) {
	if s == "" || s[0] < '0' || s[0] > '9' || (s[0] == '0' && len(s) > 1) {
		return 0, fmt.Errorf("invalid number %q", s)
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid number %q", s)
	}
	return v, nil
}

// parseReferences splits a References value: base names separated by
// single spaces, or nothing at all.
func parseReferences(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	refs := strings.Split(s, " ")
	for _, r := range refs {
		if _, err := storepath.ParseBase(r); err != nil {
			return nil, err
		}
	}
	return refs, nil
}

// checkCA validates a content address as Nix 2.8 writes them:
// "text:<sha256 hash>", "fixed:<hash>" or "fixed:r:<hash>". Like Nix, it
// accepts an empty value.
func checkCA(s string) error {
	if s == "" {
		return nil
	}
	if rest, ok := strings.CutPrefix(s, "text:"); ok {
		h, err := nixhash.Parse(rest)
		if err == nil && h.Algo != nixhash.SHA256 {
			err = fmt.Errorf("text content address %q must use sha256", s)
		}
		return err
	}
	if rest, ok := strings.CutPrefix(s, "fixed:"); ok {
		rest, _ = strings.CutPrefix(rest, "r:")
		_, err := nixhash.Parse(rest)
		return err
	}
	return fmt.Errorf("content address %q does not start with text or fixed", s)
}
