package pathstrip

import (
	"errors"
	"fmt"
	"strings"

	"github.com/nardedup/nardedup/narfmt/storepath"
)

// Mode selects what part of a store path occurrence is cut.
type Mode int

const (
	// CutHash cuts "<storeDir>/<hash>"; a following "-<name>" stays in the
	// residue.
	CutHash Mode = iota
	// CutHashName cuts "<storeDir>/<hash>-<name>" when a non-empty name of
	// at most MaxNameLen characters follows the hash, else "<storeDir>/<hash>".
	CutHashName
)

// DefaultMode is the mode chosen by measurement (see the package doc). The
// zero Options value keeps Mode == CutHash for compatibility; set
// Options.Mode = DefaultMode to get the recommended behaviour.
const DefaultMode = CutHashName

// String returns the constant's name.
func (m Mode) String() string {
	switch m {
	case CutHash:
		return "CutHash"
	case CutHashName:
		return "CutHashName"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// DefaultStoreDir is used when Options.StoreDir is empty.
const DefaultStoreDir = "/nix/store"

// DefaultMaxPaths bounds the number of distinct cut strings per stream when
// Options.MaxPaths is 0. A NAR references at most its closure; 65536 cut
// strings of at most ~260 bytes keep the worst case near 16 MiB. Store paths
// beyond the bound are not cut (see Stripper).
const DefaultMaxPaths = 1 << 16

// HashLen is the number of nixbase32 characters of a store path hash.
const HashLen = storepath.HashLen

// MaxNameLen is the longest store path name Nix accepts.
const MaxNameLen = 211

// MaxPathLen bounds one encoded cut string in DecodePaths.
const MaxPathLen = 4096

var (
	// ErrTooManyPaths reports a paths list longer than Options.MaxPaths (or
	// the max given to DecodePaths), which the Stripper never makes.
	ErrTooManyPaths = errors.New("pathstrip: too many distinct store paths")
	// ErrCorrupt reports a side table or residue that does not fit.
	ErrCorrupt = errors.New("pathstrip: corrupt side table or residue")
	// ErrClosed reports a Write after Close.
	ErrClosed = errors.New("pathstrip: write after close")
)

// Options configure a Stripper and the matching Restorer. Both sides must use
// the same Options.
type Options struct {
	StoreDir string // store directory without trailing slash; "" = DefaultStoreDir
	Mode     Mode   // what is cut
	MaxPaths int    // bound on the paths list (see Stripper); 0 = DefaultMaxPaths
}

// prefix returns storeDir + "/".
func (o Options) prefix() string {
	d := strings.TrimRight(o.StoreDir, "/")
	if d == "" {
		d = DefaultStoreDir
	}
	return d + "/"
}

func (o Options) maxPaths() int {
	if o.MaxPaths <= 0 {
		return DefaultMaxPaths
	}
	return o.MaxPaths
}

// isName[c] is true for bytes allowed in a store path name.
var isName [256]bool

func init() {
	for c := 0; c < 256; c++ {
		b := byte(c)
		isName[c] = 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' ||
			'0' <= b && b <= '9' || strings.IndexByte("+-._?=", b) >= 0
	}
}

// validCut reports whether s is a string the Stripper could cut with opt.
func validCut(s string, opt Options) bool {
	pre := opt.prefix()
	if !strings.HasPrefix(s, pre) || len(s) < len(pre)+HashLen {
		return false
	}
	if !storepath.IsHash(s[len(pre) : len(pre)+HashLen]) {
		return false
	}
	rest := s[len(pre)+HashLen:]
	if rest == "" {
		return true
	}
	if opt.Mode != CutHashName || rest[0] != '-' || len(rest) < 2 || len(rest) > MaxNameLen+1 {
		return false
	}
	for i := 1; i < len(rest); i++ {
		if !isName[rest[i]] {
			return false
		}
	}
	return true
}
