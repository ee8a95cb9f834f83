package signature_test

import (
	"testing"

	"github.com/nardedup/nardedup/narfmt/signature"
)

// FuzzParse feeds hostile keys and signatures to the parsers and to Verify.
func FuzzParse(f *testing.F) {
	sk, pk := fixedKey(f, "k-1")
	f.Add(sk.String(), pk.String(), sk.Sign("m"))
	f.Add("a:", ":b", "k-1:"+b64(make([]byte, 64)))
	f.Fuzz(func(t *testing.T, skText, pkText, sig string) {
		if k, err := signature.ParseSecretKey(skText); err == nil {
			if !k.Public().Verify("msg", k.Sign("msg")) {
				t.Fatalf("key %q does not verify its own signature", skText)
			}
			if _, err := signature.ParseSecretKey(k.String()); err != nil {
				t.Fatalf("ParseSecretKey(String()) = %v", err)
			}
		}
		if k, err := signature.ParsePublicKey(pkText); err == nil {
			_ = k.Verify("m", sig)
			if _, err := signature.ParsePublicKey(k.String()); err != nil {
				t.Fatalf("ParsePublicKey(String()) = %v", err)
			}
		}
		_ = pk.Verify("m", sig)
		_, _, _ = signature.ParseSig(sig)
	})
}
