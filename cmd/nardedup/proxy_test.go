package main

import "testing"

func TestNetrcEntry(t *testing.T) {
	const text = `machine other.example login o password op
machine cache.example
  login alice
  password secret
default login anon password none
`
	for _, tc := range []struct {
		text, host, login, password string
		ok                          bool
	}{
		{text, "cache.example", "alice", "secret", true},
		{text, "other.example", "o", "op", true},
		{text, "unknown.example", "anon", "none", true},
		{"machine a login x password y", "b", "", "", false},
		{"default login d password p\nmachine a login x password y", "b", "d", "p", true},
	} {
		login, password, ok := netrcEntry(tc.text, tc.host)
		if login != tc.login || password != tc.password || ok != tc.ok {
			t.Errorf("netrcEntry(%q, %s) = %q, %q, %v; want %q, %q, %v",
				tc.text, tc.host, login, password, ok, tc.login, tc.password, tc.ok)
		}
	}
}
