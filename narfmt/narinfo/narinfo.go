package narinfo

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/nardedup/nardedup/narfmt"
	"github.com/nardedup/nardedup/narfmt/nixhash"
	"github.com/nardedup/nardedup/narfmt/signature"
	"github.com/nardedup/nardedup/narfmt/storepath"
)

// MaxSize is the largest narinfo Parse accepts, in bytes. It leaves room
// for References lines with tens of thousands of paths.
const MaxSize = 8 << 20

// UnknownDeriver is the Deriver value Nix uses for "no deriver".
const UnknownDeriver = "unknown-deriver"

// Field is one "Key: Value" line with a key this package does not know.
type Field struct {
	Key, Value string
}

// NarInfo is the content of a narinfo file. Hash fields are kept as text so
// that they are written back exactly as read.
type NarInfo struct {
	StorePath   string // full store path
	URL         string // of the (compressed) NAR, relative to the cache
	Compression string // "" if absent; Nix then assumes bzip2
	FileHash    string // hash of the compressed NAR, e.g. sha256:<nixbase32>
	FileSize    uint64
	NarHash     string // hash of the NAR
	NarSize     uint64
	References  []string // base names <hash>-<name>
	Deriver     string   // base name, UnknownDeriver, or "" if absent
	System      string
	Sigs        []string // "<key name>:<base64 signature>"
	CA          string   // content address, "" if absent

	// Extra holds the lines with unknown keys, in order.
	Extra []Field
	// Order lists the keys in the order Parse met them, one entry per
	// line. String writes lines in this order; fields set but not listed
	// follow in Nix's order. With Order nil, String uses Nix's order.
	Order []string
}

// nixOrder is the order in which Nix writes the keys.
var nixOrder = []string{"StorePath", "URL", "Compression", "FileHash", "FileSize",
	"NarHash", "NarSize", "References", "Deriver", "System", "Sig", "CA"}

// value returns the text of a known single-valued key and whether String
// should write it when Order does not list it.
func (n *NarInfo) value(key string) (string, bool) {
	switch key {
	case "StorePath":
		return n.StorePath, n.StorePath != ""
	case "URL":
		return n.URL, n.URL != ""
	case "Compression":
		return n.Compression, n.Compression != ""
	case "FileHash":
		return n.FileHash, n.FileHash != ""
	case "FileSize":
		return strconv.FormatUint(n.FileSize, 10), n.FileSize != 0
	case "NarHash":
		return n.NarHash, n.NarHash != ""
	case "NarSize":
		return strconv.FormatUint(n.NarSize, 10), n.NarSize != 0
	case "References":
		return strings.Join(n.References, " "), len(n.References) > 0
	case "Deriver":
		return n.Deriver, n.Deriver != ""
	case "System":
		return n.System, n.System != ""
	case "CA":
		return n.CA, n.CA != ""
	}
	return "", false
}

// String formats n as a narinfo file.
func (n *NarInfo) String() string {
	w := writer{n: n, sigs: n.Sigs, extra: n.Extra, written: make(map[string]bool)}
	w.ordered()
	w.rest()
	return w.b.String()
}

// writer formats a NarInfo: first the keys listed in Order, then the rest.
type writer struct {
	n       *NarInfo
	b       strings.Builder
	sigs    []string
	extra   []Field
	written map[string]bool
}

func (w *writer) line(k, v string) {
	w.b.WriteString(k)
	w.b.WriteString(": ")
	w.b.WriteString(v)
	w.b.WriteByte('\n')
}

// ordered writes the lines Order lists. The last Sig entry takes all
// remaining signatures, so signatures added after parsing follow the
// parsed ones.
func (w *writer) ordered() {
	lastSig := -1
	for i, k := range w.n.Order {
		if k == "Sig" {
			lastSig = i
		}
	}
	for i, k := range w.n.Order {
		switch {
		case k == "Sig":
			take := 1
			if i == lastSig {
				take = len(w.sigs)
			}
			for ; take > 0 && len(w.sigs) > 0; take-- {
				w.line("Sig", w.sigs[0])
				w.sigs = w.sigs[1:]
			}
		case slices.Contains(nixOrder, k):
			if v, set := w.n.value(k); (set || !emptyMeansAbsent(k)) && !w.written[k] {
				w.line(k, v)
			}
			w.written[k] = true
		case len(w.extra) > 0:
			w.line(w.extra[0].Key, w.extra[0].Value)
			w.extra = w.extra[1:]
		}
	}
}

// rest writes what Order did not list, in Nix's order, then unknown keys.
func (w *writer) rest() {
	for _, k := range nixOrder {
		if k == "Sig" {
			for _, s := range w.sigs {
				w.line("Sig", s)
			}
			continue
		}
		v, set := w.n.value(k)
		if w.n.Order == nil {
			// Nix always writes References, and FileSize with FileHash.
			set = set || k == "References" || (k == "FileSize" && w.n.FileHash != "")
		}
		if set && !w.written[k] {
			w.line(k, v)
		}
	}
	for _, f := range w.extra {
		w.line(f.Key, f.Value)
	}
}

// emptyMeansAbsent reports whether an empty value of key k stands for the
// key being absent (so that String leaves the line out even if Order lists
// it): true for keys whose empty value Parse would reject.
func emptyMeansAbsent(k string) bool {
	switch k {
	case "StorePath", "URL", "FileHash", "NarHash", "Deriver":
		return true
	}
	return false
}

// storeDir returns the store directory of n.StorePath.
func (n *NarInfo) storeDir() (string, error) {
	i := strings.LastIndexByte(n.StorePath, '/')
	if i <= 0 {
		return "", fmt.Errorf("narinfo: invalid store path %q", n.StorePath)
	}
	if _, err := storepath.Parse(n.StorePath[:i], n.StorePath); err != nil {
		return "", fmt.Errorf("narinfo: %w", err)
	}
	return n.StorePath[:i], nil
}

// NarSHA256 returns the digest of NarHash, which must be a SHA-256 hash
// (in any form Nix accepts): the key a NAR is stored and served under.
func (n *NarInfo) NarSHA256() (narfmt.Hash, error) {
	var sum narfmt.Hash
	h, err := nixhash.Parse(n.NarHash)
	if err != nil {
		return sum, fmt.Errorf("narinfo %s: NarHash: %w", n.StorePath, err)
	}
	if h.Algo != nixhash.SHA256 || len(h.Digest) != len(sum) {
		return sum, fmt.Errorf("narinfo %s: NarHash %q is not SHA-256", n.StorePath, n.NarHash)
	}
	copy(sum[:], h.Digest)
	return sum, nil
}

// Fingerprint returns the string Nix signs for this path:
// "1;<StorePath>;<NarHash as algo:nixbase32>;<NarSize>;<refs>" where refs
// are the references as full store paths, sorted, deduplicated and
// comma-separated.
func (n *NarInfo) Fingerprint() (string, error) {
	dir, err := n.storeDir()
	if err != nil {
		return "", err
	}
	if n.NarSize == 0 {
		return "", fmt.Errorf("narinfo: cannot fingerprint %s: NarSize is unknown", n.StorePath)
	}
	h, err := nixhash.Parse(n.NarHash)
	if err != nil {
		return "", fmt.Errorf("narinfo: cannot fingerprint %s: %w", n.StorePath, err)
	}
	refs := make([]string, 0, len(n.References))
	for _, r := range n.References {
		if _, err := storepath.ParseBase(r); err != nil {
			return "", fmt.Errorf("narinfo: cannot fingerprint %s: reference: %w", n.StorePath, err)
		}
		refs = append(refs, dir+"/"+r)
	}
	slices.Sort(refs)
	refs = slices.Compact(refs)
	return "1;" + n.StorePath + ";" + h.String() + ";" +
		strconv.FormatUint(n.NarSize, 10) + ";" + strings.Join(refs, ","), nil
}

// Sign adds the signature of n's fingerprint by sk to Sigs, unless that
// exact signature is already there.
func (n *NarInfo) Sign(sk signature.SecretKey) error {
	if len(sk.Key) != 64 {
		return errors.New("narinfo: invalid secret key")
	}
	fp, err := n.Fingerprint()
	if err != nil {
		return err
	}
	sig := sk.Sign(fp)
	if !slices.Contains(n.Sigs, sig) {
		n.Sigs = append(n.Sigs, sig)
	}
	return nil
}

// Verify returns nil if at least one of n.Sigs is a valid signature of n's
// fingerprint by one of keys, and an error naming the path otherwise.
func (n *NarInfo) Verify(keys []signature.PublicKey) error {
	fp, err := n.Fingerprint()
	if err != nil {
		return err
	}
	if err := signature.VerifyAny(keys, fp, n.Sigs); err != nil {
		return fmt.Errorf("narinfo: %s: %w", n.StorePath, err)
	}
	return nil
}

// EffectiveCompression returns Compression, or "bzip2" if it is empty, as
// Nix assumes for narinfos without a Compression line.
func (n *NarInfo) EffectiveCompression() string {
	if n.Compression == "" {
		return "bzip2"
	}
	return n.Compression
}
