package signature_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/internal/nixtest"
	"github.com/nardedup/nardedup/narfmt/signature"
)

// fixedKey returns a deterministic key pair for tests.
func fixedKey(t testing.TB, name string) (signature.SecretKey, signature.PublicKey) {
	t.Helper()
	sk, pk, err := signature.GenerateKey(name, bytes.NewReader(bytes.Repeat([]byte{7}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	return sk, pk
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func TestNixGeneratedKey(t *testing.T) {
	nixtest.Require(t, "nix-store")
	dir := t.TempDir()
	skFile, pkFile := filepath.Join(dir, "sk"), filepath.Join(dir, "pk")
	cmd := exec.Command("nix-store", "--generate-binary-cache-key", "cache.example-1", skFile, pkFile)
	cmd.Env = nixtest.Env(filepath.Join(dir, "root"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nix-store --generate-binary-cache-key: %v\n%s", err, out)
	}
	skText, _ := os.ReadFile(skFile)
	pkText, _ := os.ReadFile(pkFile)
	sk, err := signature.ParseSecretKey(string(skText))
	if err != nil {
		t.Fatalf("ParseSecretKey: %v", err)
	}
	pk, err := signature.ParsePublicKey(string(pkText))
	if err != nil {
		t.Fatalf("ParsePublicKey: %v", err)
	}
	if got, want := sk.String(), string(skText); got != want {
		t.Errorf("SecretKey.String() = %q; want %q", got, want)
	}
	if got, want := pk.String(), string(pkText); got != want {
		t.Errorf("PublicKey.String() = %q; want %q", got, want)
	}
	if got := sk.Public().String(); got != string(pkText) {
		t.Errorf("Public().String() = %q; want %q", got, pkText)
	}
	sig := sk.Sign("1;/nix/store/x;sha256:y;1;")
	if !pk.Verify("1;/nix/store/x;sha256:y;1;", sig) {
		t.Errorf("Verify(Sign(msg)) = false; want true")
	}
}

func TestSignVerify(t *testing.T) {
	sk, pk := fixedKey(t, "a-1")
	_, other := fixedKey(t, "b-1")
	sk2 := signature.SecretKey{Name: "a-1", Key: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, 32))}
	pk2 := sk2.Public()
	msg := "hello"
	sig := sk.Sign(msg)
	if !strings.HasPrefix(sig, "a-1:") {
		t.Errorf("Sign = %q; want prefix a-1:", sig)
	}
	tests := []struct {
		name string
		key  signature.PublicKey
		msg  string
		sig  string
		want bool
	}{
		{"good", pk, msg, sig, true},
		{"other message", pk, "hellp", sig, false},
		{"other name", other, msg, sig, false},
		{"same name other key", pk2, msg, sig, false},
		{"renamed sig", pk, msg, "b-1" + sig[3:], false},
		{"no colon", pk, msg, strings.Replace(sig, ":", "", 1), false},
		{"empty", pk, msg, "", false},
		{"empty sig", pk, msg, "a-1:", false},
		{"bad base64", pk, msg, "a-1:!!!!", false},
		{"short sig", pk, msg, "a-1:" + b64(make([]byte, 63)), false},
		{"long sig", pk, msg, "a-1:" + b64(make([]byte, 65)), false},
		{"zero sig", pk, msg, "a-1:" + b64(make([]byte, 64)), false},
		{"zero key", signature.PublicKey{Name: "a-1"}, msg, sig, false},
		{"short key", signature.PublicKey{Name: "a-1", Key: pk.Key[:31]}, msg, sig, false},
		{"trailing garbage", pk, msg, sig + "x", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.key.Verify(tt.msg, tt.sig); got != tt.want {
				t.Errorf("Verify(%q, %q) = %v; want %v", tt.msg, tt.sig, got, tt.want)
			}
		})
	}
	if err := signature.VerifyAny([]signature.PublicKey{other, pk}, msg, []string{"junk", sig}); err != nil {
		t.Errorf("VerifyAny = %v; want nil", err)
	}
	err := signature.VerifyAny([]signature.PublicKey{other}, msg, []string{sig})
	if !errors.Is(err, signature.ErrNoValidSignature) {
		t.Errorf("VerifyAny = %v; want %v", err, signature.ErrNoValidSignature)
	}
}

func TestParseKeyErrors(t *testing.T) {
	sk, pk := fixedKey(t, "k")
	mismatched := append([]byte{}, sk.Key...)
	mismatched[40] ^= 1
	tests := []struct {
		name, in string
		secret   bool
	}{
		{"empty", "", true},
		{"no colon", "abc", true},
		{"empty name", ":" + b64(sk.Key), true},
		{"empty key", "k:", true},
		{"bad base64", "k:@@@@", true},
		{"unpadded", "k:" + strings.TrimRight(b64(sk.Key), "="), true},
		{"secret 63 bytes", "k:" + b64(sk.Key[:63]), true},
		{"secret 65 bytes", "k:" + b64(append(append([]byte{}, sk.Key...), 0)), true},
		{"secret is public key", pk.String(), true},
		{"mismatched public half", "k:" + b64(mismatched), true},
		{"public 31 bytes", "k:" + b64(pk.Key[:31]), false},
		{"public 33 bytes", "k:" + b64(append(append([]byte{}, pk.Key...), 0)), false},
		{"public is secret key", sk.String(), false},
		{"public empty", "", false},
		{"public inner space", "k: " + b64(pk.Key), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.secret {
				_, err = signature.ParseSecretKey(tt.in)
			} else {
				_, err = signature.ParsePublicKey(tt.in)
			}
			if err == nil {
				t.Errorf("parse %q = nil error; want error", tt.in)
			}
		})
	}
}

func TestRoundTripAndWhitespace(t *testing.T) {
	sk, pk := fixedKey(t, "cache-1")
	gsk, err := signature.ParseSecretKey(sk.String() + "\n")
	if err != nil || !bytes.Equal(gsk.Key, sk.Key) || gsk.Name != sk.Name {
		t.Errorf("ParseSecretKey(String()) = %v, %v; want %v", gsk, err, sk)
	}
	gpk, err := signature.ParsePublicKey(" " + pk.String() + "\n")
	if err != nil || !gpk.Key.Equal(pk.Key) || gpk.Name != pk.Name {
		t.Errorf("ParsePublicKey(String()) = %v, %v; want %v", gpk, err, pk)
	}
	keys, err := signature.ParsePublicKeys(pk.String() + "  \n other:" + b64(pk.Key))
	if err != nil || len(keys) != 2 || keys[1].Name != "other" {
		t.Errorf("ParsePublicKeys = %v, %v; want 2 keys", keys, err)
	}
	if _, err := signature.ParsePublicKeys("a:b"); err == nil {
		t.Errorf("ParsePublicKeys(a:b) = nil error; want error")
	}
}

func TestGenerateKeyNames(t *testing.T) {
	for _, name := range []string{"", "a:b", "a b", "a\n"} {
		if _, _, err := signature.GenerateKey(name, nil); err == nil {
			t.Errorf("GenerateKey(%q) = nil error; want error", name)
		}
	}
	sk, pk, err := signature.GenerateKey("ok-1", nil)
	if err != nil || !pk.Verify("m", sk.Sign("m")) {
		t.Errorf("GenerateKey(ok-1) = %v; want a working pair", err)
	}
}
