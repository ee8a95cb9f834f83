package signature

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
)

// SecretKey is a named Ed25519 private key.
type SecretKey struct {
	Name string
	Key  ed25519.PrivateKey
}

// PublicKey is a named Ed25519 public key.
type PublicKey struct {
	Name string
	Key  ed25519.PublicKey
}

// split separates "<name>:<base64>" and decodes the base-64 part.
func split(kind, s string) (string, []byte, error) {
	name, b64, ok := strings.Cut(s, ":")
	if !ok || name == "" || b64 == "" {
		return "", nil, fmt.Errorf("signature: %s is not of the form <name>:<base64>", kind)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return "", nil, fmt.Errorf("signature: %s %q: invalid base-64: %v", kind, name, err)
	}
	return name, raw, nil
}

// checkName rejects names that would not survive the text format.
func checkName(name string) error {
	if name == "" || strings.ContainsAny(name, ": \t\r\n") {
		return fmt.Errorf("signature: invalid key name %q", name)
	}
	return nil
}

// ParseSecretKey parses a secret key file's contents. Surrounding white
// space is ignored. The public half stored in the key must match its seed.
func ParseSecretKey(s string) (SecretKey, error) {
	name, raw, err := split("secret key", strings.TrimSpace(s))
	if err != nil {
		return SecretKey{}, err
	}
	if len(raw) != ed25519.PrivateKeySize {
		return SecretKey{}, fmt.Errorf("signature: secret key %q is %d bytes, want %d", name, len(raw), ed25519.PrivateKeySize)
	}
	priv := ed25519.NewKeyFromSeed(raw[:ed25519.SeedSize])
	if !bytes.Equal(priv, raw) {
		return SecretKey{}, fmt.Errorf("signature: secret key %q: public half does not match the seed", name)
	}
	return SecretKey{Name: name, Key: priv}, nil
}

// ParsePublicKey parses a public key file's contents or one entry of
// trusted-public-keys. Surrounding white space is ignored.
func ParsePublicKey(s string) (PublicKey, error) {
	name, raw, err := split("public key", strings.TrimSpace(s))
	if err != nil {
		return PublicKey{}, err
	}
	if len(raw) != ed25519.PublicKeySize {
		return PublicKey{}, fmt.Errorf("signature: public key %q is %d bytes, want %d", name, len(raw), ed25519.PublicKeySize)
	}
	return PublicKey{Name: name, Key: ed25519.PublicKey(raw)}, nil
}

// ParsePublicKeys parses a white-space separated list of public keys, the
// format of Nix's trusted-public-keys setting.
func ParsePublicKeys(s string) ([]PublicKey, error) {
	var keys []PublicKey
	for _, f := range strings.Fields(s) {
		k, err := ParsePublicKey(f)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// GenerateKey makes a new key pair named name, reading randomness from
// rand (crypto/rand.Reader if nil).
func GenerateKey(name string, rand io.Reader) (SecretKey, PublicKey, error) {
	if err := checkName(name); err != nil {
		return SecretKey{}, PublicKey{}, err
	}
	pub, priv, err := ed25519.GenerateKey(rand)
	if err != nil {
		return SecretKey{}, PublicKey{}, err
	}
	return SecretKey{Name: name, Key: priv}, PublicKey{Name: name, Key: pub}, nil
}

// String returns the key in the format of a Nix secret key file.
func (k SecretKey) String() string {
	return k.Name + ":" + base64.StdEncoding.EncodeToString(k.Key)
}

// String returns the key in the format of a Nix public key file.
func (k PublicKey) String() string {
	return k.Name + ":" + base64.StdEncoding.EncodeToString(k.Key)
}

// Public returns the public key of k.
func (k SecretKey) Public() PublicKey {
	if len(k.Key) != ed25519.PrivateKeySize {
		return PublicKey{Name: k.Name}
	}
	return PublicKey{Name: k.Name, Key: k.Key.Public().(ed25519.PublicKey)}
}

// Sign returns the detached signature "<name>:<base64 signature>" of msg.
// It panics if k.Key is not a 64-byte private key, as crypto/ed25519 does.
func (k SecretKey) Sign(msg string) string {
	sig := ed25519.Sign(k.Key, []byte(msg))
	return k.Name + ":" + base64.StdEncoding.EncodeToString(sig)
}

// ParseSig splits a signature "<name>:<base64 signature>" into the key
// name and the 64-byte signature.
func ParseSig(sig string) (name string, raw []byte, err error) {
	name, raw, err = split("signature", sig)
	if err != nil {
		return "", nil, err
	}
	if len(raw) != ed25519.SignatureSize {
		return "", nil, fmt.Errorf("signature: signature by %q is %d bytes, want %d", name, len(raw), ed25519.SignatureSize)
	}
	return name, raw, nil
}

// Verify reports whether sig is a valid signature of msg by k: the name in
// sig must be k's name and the signature must check with k's key. A
// malformed sig is simply not valid.
func (k PublicKey) Verify(msg, sig string) bool {
	name, raw, err := ParseSig(sig)
	if err != nil || name != k.Name || len(k.Key) != ed25519.PublicKeySize {
		return false
	}
	return ed25519.Verify(k.Key, []byte(msg), raw)
}

// ErrNoValidSignature is returned by VerifyAny when no signature checks.
var ErrNoValidSignature = errors.New("signature: no valid signature by a trusted key")

// VerifyAny returns nil if at least one of sigs is a valid signature of
// msg by one of keys, ErrNoValidSignature otherwise.
func VerifyAny(keys []PublicKey, msg string, sigs []string) error {
	for _, sig := range sigs {
		for _, k := range keys {
			if k.Verify(msg, sig) {
				return nil
			}
		}
	}
	return ErrNoValidSignature
}
