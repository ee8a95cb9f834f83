package storepath

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/nardedup/nardedup/narfmt/nixbase32"
)

// DefaultStoreDir is the store directory of a standard Nix installation.
const DefaultStoreDir = "/nix/store"

// HashLen is the length of the hash part of a store path in characters.
const HashLen = 32

// MaxNameLen is the longest name Nix allows.
const MaxNameLen = 211

// Path is a parsed store path.
type Path struct {
	StoreDir string // e.g. "/nix/store", no trailing slash
	Hash     string // 32 Nix base-32 characters
	Name     string
}

// String returns the full path <StoreDir>/<Hash>-<Name>.
func (p Path) String() string {
	return p.StoreDir + "/" + p.Base()
}

// Base returns <Hash>-<Name>, the form narinfo References use.
func (p Path) Base() string {
	return p.Hash + "-" + p.Name
}

// IsNameChar reports whether c may appear in a store path name.
func IsNameChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '+', '-', '.', '_', '?', '=':
		return true
	}
	return false
}

// ValidateName checks name against the rules of Nix 2.8: not empty, at most
// MaxNameLen characters, each accepted by IsNameChar. (Nix 2.20 and later
// also reject ".", "..", and names beginning ".-" or "..-"; Nix 2.8 accepts
// them, and so does ValidateName.)
func ValidateName(name string) error {
	if name == "" {
		return errors.New("name is empty")
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("name is %d characters long, more than %d", len(name), MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		if !IsNameChar(name[i]) {
			return fmt.Errorf("name %q contains illegal character %q", name, name[i])
		}
	}
	return nil
}

// IsHash reports whether h is a store path hash: HashLen characters of Nix
// base-32. It takes bytes as well as a string so that scanners can check a
// buffer without converting it; ValidateHash says what is wrong.
func IsHash[T string | []byte](h T) bool {
	if len(h) != HashLen {
		return false
	}
	for i := 0; i < len(h); i++ {
		if !nixbase32.ValidByte(h[i]) {
			return false
		}
	}
	return true
}

// ValidateHash checks that h is a store path hash: HashLen characters of
// Nix base-32.
func ValidateHash(h string) error {
	if len(h) != HashLen {
		return fmt.Errorf("hash %q is not %d characters long", h, HashLen)
	}
	for i := 0; i < len(h); i++ {
		if !nixbase32.ValidByte(h[i]) {
			return fmt.Errorf("hash %q contains illegal base-32 character %q", h, h[i])
		}
	}
	return nil
}

// ValidateStoreDir checks that dir is usable as a store directory: an
// absolute, clean path other than "/".
func ValidateStoreDir(dir string) error {
	if dir == "" || dir[0] != '/' || dir == "/" || path.Clean(dir) != dir {
		return fmt.Errorf("storepath: invalid store directory %q", dir)
	}
	return nil
}

// ParseBase parses <hash>-<name>, the base name of a store path. The
// returned Path has an empty StoreDir.
func ParseBase(s string) (Path, error) {
	if len(s) < HashLen+2 {
		return Path{}, fmt.Errorf("storepath: %q is too short to be a valid store path", s)
	}
	if s[HashLen] != '-' {
		return Path{}, fmt.Errorf("storepath: %q: no '-' after the hash", s)
	}
	p := Path{Hash: s[:HashLen], Name: s[HashLen+1:]}
	if err := ValidateHash(p.Hash); err != nil {
		return Path{}, fmt.Errorf("storepath: %q: %v", s, err)
	}
	if err := ValidateName(p.Name); err != nil {
		return Path{}, fmt.Errorf("storepath: %q: %v", s, err)
	}
	return p, nil
}

// Parse parses a full store path <storeDir>/<hash>-<name>. The path must
// be exactly in that form: no trailing slash, no sub-path, no "." or ".."
// components.
func Parse(storeDir, s string) (Path, error) {
	if err := ValidateStoreDir(storeDir); err != nil {
		return Path{}, err
	}
	rest, ok := strings.CutPrefix(s, storeDir+"/")
	if !ok || strings.IndexByte(rest, '/') >= 0 {
		return Path{}, fmt.Errorf("storepath: path %q is not in the Nix store %s", s, storeDir)
	}
	p, err := ParseBase(rest)
	if err != nil {
		return Path{}, err
	}
	p.StoreDir = storeDir
	return p, nil
}

// New returns the Path for storeDir, hash and name after validating each.
func New(storeDir, hash, name string) (Path, error) {
	if err := ValidateStoreDir(storeDir); err != nil {
		return Path{}, err
	}
	return Parse(storeDir, storeDir+"/"+hash+"-"+name)
}

// PackageName returns the name of a store path name without its version,
// as Nix's builtins.parseDrvName splits it: the name ends before the first
// "-" that is followed by something other than a letter. So
// "hello-2.12.1", "hello-2.12.1-man" and "hello-2.10" are all "hello",
// and "python3.11-requests-2.31.0" is "python3.11-requests".
func PackageName(name string) string {
	for i := 0; i+1 < len(name); i++ {
		if name[i] == '-' && !isLetter(name[i+1]) {
			return name[:i]
		}
	}
	return name
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
