package server

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
)

// Auth lists the credentials that may read a private cache: bearer tokens
// and basic-auth user:password pairs. A token is also accepted as the
// password of basic auth under any user name, so that Nix, which sends
// basic auth from a netrc file, can present it. Credentials are kept as
// SHA-256 digests and compared in constant time. The zero Auth admits
// nobody.
type Auth struct {
	tokens [][32]byte // SHA-256 of each token
	basic  [][32]byte // SHA-256 of each "user:password"
}

// AddToken admits requests that present token.
func (a *Auth) AddToken(token string) { a.tokens = append(a.tokens, sha256.Sum256([]byte(token))) }

// AddBasic admits requests with basic auth user and password.
func (a *Auth) AddBasic(user, password string) {
	a.basic = append(a.basic, sha256.Sum256([]byte(user+":"+password)))
}

// LoadTokenFile adds the tokens of file, one a line; blank lines and lines
// starting with # are skipped.
func (a *Auth) LoadTokenFile(file string) error {
	return loadLines(file, func(line string) error {
		a.AddToken(line)
		return nil
	})
}

// LoadBasicFile adds the user:password pairs of file, one a line; blank
// lines and lines starting with # are skipped.
func (a *Auth) LoadBasicFile(file string) error {
	return loadLines(file, func(line string) error {
		user, password, ok := strings.Cut(line, ":")
		if !ok || user == "" || password == "" {
			return errors.New("want user:password")
		}
		a.AddBasic(user, password)
		return nil
	})
}

func loadLines(file string, add func(string) error) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	for i := 1; sc.Scan(); i++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := add(line); err != nil {
			return fmt.Errorf("%s:%d: %v", file, i, err)
		}
		n++
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %v", file, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: no credentials", file)
	}
	return nil
}

// allowed reports whether r presents one of a's credentials.
func (a *Auth) allowed(r *http.Request) bool {
	if user, password, ok := r.BasicAuth(); ok {
		return oneOf(sha256.Sum256([]byte(user+":"+password)), a.basic) ||
			oneOf(sha256.Sum256([]byte(password)), a.tokens)
	}
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	return oneOf(sha256.Sum256([]byte(strings.TrimSpace(token))), a.tokens)
}

// oneOf reports whether sum is in list, comparing with every element in
// constant time.
func oneOf(sum [32]byte, list [][32]byte) bool {
	match := 0
	for i := range list {
		match |= subtle.ConstantTimeCompare(sum[:], list[i][:])
	}
	return match == 1
}

// deny answers 401 with the schemes a accepts.
func (a *Auth) deny(w http.ResponseWriter) {
	w.Header().Add("WWW-Authenticate", `Basic realm="nardedup", charset="UTF-8"`)
	if len(a.tokens) > 0 {
		w.Header().Add("WWW-Authenticate", `Bearer realm="nardedup"`)
	}
	http.Error(w, "unauthorized", http.StatusUnauthorized)
}
