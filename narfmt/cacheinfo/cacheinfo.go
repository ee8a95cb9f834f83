package cacheinfo

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/nardedup/nardedup/narfmt/storepath"
)

// MaxSize is the largest nix-cache-info Parse accepts, in bytes.
const MaxSize = 64 << 10

// Field is a line with a key this package does not know.
type Field struct {
	Key, Value string
}

// CacheInfo is the content of a nix-cache-info file.
type CacheInfo struct {
	StoreDir      string // "" if absent
	WantMassQuery bool
	Priority      int // 0 if absent; Nix then uses its default

	// Extra holds the lines with unknown keys, in order.
	Extra []Field
	// Order lists the keys in the order Parse met them. String writes
	// them in that order; with Order nil it writes StoreDir,
	// WantMassQuery and Priority when set, then Extra.
	Order []string
}

var known = []string{"StoreDir", "WantMassQuery", "Priority"}

// Parse reads a nix-cache-info file.
func Parse(r io.Reader) (*CacheInfo, error) {
	lr := &io.LimitedReader{R: r, N: MaxSize + 1}
	data, err := io.ReadAll(lr)
	if err != nil {
		return nil, fmt.Errorf("cacheinfo: %w", err)
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("cacheinfo: longer than %d bytes", MaxSize)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		return nil, errors.New("cacheinfo: last line does not end in a newline")
	}
	ci := &CacheInfo{}
	lines := strings.Split(string(data), "\n")
	for i, l := range lines[:len(lines)-1] {
		if err := ci.line(l); err != nil {
			return nil, fmt.Errorf("cacheinfo: line %d: %w", i+1, err)
		}
	}
	return ci, nil
}

func (ci *CacheInfo) line(s string) error {
	key, value, ok := strings.Cut(s, ": ")
	if !ok {
		return fmt.Errorf("%q is not of the form Key: value", s)
	}
	if key == "" || strings.ContainsAny(key, " \t\r:") {
		return fmt.Errorf("invalid key %q", key)
	}
	if strings.ContainsFunc(value, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return fmt.Errorf("%s: value contains a control character", key)
	}
	if slices.Contains(known, key) && slices.Contains(ci.Order, key) {
		return fmt.Errorf("%s: duplicate key", key)
	}
	var err error
	switch key {
	case "StoreDir":
		err = storepath.ValidateStoreDir(value)
		ci.StoreDir = value
	case "WantMassQuery":
		if value != "0" && value != "1" {
			err = fmt.Errorf("%q is not 0 or 1", value)
		}
		ci.WantMassQuery = value == "1"
	case "Priority":
		ci.Priority, err = strconv.Atoi(value)
		if err != nil || strconv.Itoa(ci.Priority) != value {
			err = fmt.Errorf("invalid number %q", value)
		}
	default:
		ci.Extra = append(ci.Extra, Field{Key: key, Value: value})
	}
	ci.Order = append(ci.Order, key)
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	return nil
}

// String formats ci as a nix-cache-info file.
func (ci *CacheInfo) String() string {
	var b strings.Builder
	line := func(k, v string) { b.WriteString(k + ": " + v + "\n") }
	mq := "0"
	if ci.WantMassQuery {
		mq = "1"
	}
	values := map[string]string{"StoreDir": ci.StoreDir, "WantMassQuery": mq,
		"Priority": strconv.Itoa(ci.Priority)}
	set := map[string]bool{"StoreDir": ci.StoreDir != "", "WantMassQuery": ci.WantMassQuery,
		"Priority": ci.Priority != 0}
	extra := ci.Extra
	for _, k := range ci.Order {
		switch {
		case slices.Contains(known, k):
			if k != "StoreDir" || set[k] {
				line(k, values[k])
			}
			set[k] = false
		case len(extra) > 0:
			line(extra[0].Key, extra[0].Value)
			extra = extra[1:]
		}
	}
	for _, k := range known {
		if set[k] {
			line(k, values[k])
		}
	}
	for _, f := range extra {
		line(f.Key, f.Value)
	}
	return b.String()
}
