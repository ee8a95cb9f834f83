// Package layout is the key layout of a nardedup repository: which object
// of which kind lives under which backend key. It is the only place that
// spells a key; everything else names an object by a Handle.
//
// # Objects
//
//	config                        the repository configuration (one object)
//	packs/<2 hex>/<pack id>       a pack of compressed chunks
//	index/<pack id>               a copy of a pack's table of contents
//	manifests/<nixbase32 NarHash> how to rebuild one NAR from chunks
//	narinfo/<hash>.narinfo        the upstream narinfo of a store path
//	tombstones/<hash>.narinfo     a forgotten narinfo, kept for revival
//	sessions/<session id>         a running writer's announcement
//	gc/condemned                  what a running garbage collection condemned
//	forward/<2 hex>/<pack id>     where a deleted pack's chunks live now
//	uploads/<file hash>.nar[.ext] a pushed NAR file awaiting its narinfo
//	names/<name hash>/<NarHash>   an empty object: a NAR of that package
//	                              name is stored (NameOf; ingest's names
//	                              dedup lists one name's NARs)
//	cursors/<cursor id>           how far ingest --follow has read a source
//	log/<drv basename>            a build log, zstd-compressed
//	realisations/<id>.doi         a realisation (JSON), as the cache had it
//	names-complete                an empty object: every stored NAR has its
//	                              names object (repo.NamesComplete), so
//	                              ingest may dedup by names by default
//
// Packs, index objects, manifests and names objects are immutable and named by their
// content (packs by a hash of their bytes and a nonce), so caches may keep
// them forever. So are forward records: garbage collection writes one
// once, before it deletes the pack it names, and never rewrites it.
// Narinfos, tombstones, sessions, upload records, cursors, build logs,
// realisations and the condemned list are written and deleted as the
// repository changes. The names-complete marker is written once (at
// creation, or when nardedup upgrade --names has recorded every NAR) and
// nothing deletes it.
package layout

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/narfmt"
)

// Type is a kind of repository object.
type Type int

// The kinds of objects, in the order Types lists them.
const (
	Config Type = iota
	Pack
	Index
	Manifest
	NarInfo
	Tombstone
	Session
	Condemned
	Forward
	Upload
	Names
	Cursor
	Log
	Realisation
	NamesComplete
)

// Types lists every kind of object.
var Types = []Type{Config, Pack, Index, Manifest, NarInfo, Tombstone, Session, Condemned, Forward, Upload, Names, Cursor, Log, Realisation, NamesComplete}

// spec is how one kind of object is named.
type spec struct {
	name   string // the kind's name, as reports print it
	dir    string // the first key element ("" for a single object)
	key    string // the whole key of a single object
	suffix string // after the name
	shard  bool   // a directory of the name's first two characters between dir and name
	group  bool   // the name is "<group>/<leaf>": one directory a group
	fixed  bool   // content-addressed: never changes once written
}

var specs = [...]spec{
	Config:      {name: "config", key: "config"},
	Pack:        {name: "packs", dir: "packs", shard: true, fixed: true},
	Index:       {name: "index", dir: "index", fixed: true},
	Manifest:    {name: "manifests", dir: "manifests", fixed: true},
	NarInfo:     {name: "narinfo", dir: "narinfo", suffix: ".narinfo"},
	Tombstone:   {name: "tombstones", dir: "tombstones", suffix: ".narinfo"},
	Session:     {name: "sessions", dir: "sessions"},
	Condemned:   {name: "gc", key: "gc/condemned"},
	Forward:     {name: "forward", dir: "forward", shard: true, fixed: true},
	Upload:      {name: "uploads", dir: "uploads"},
	Names:       {name: "names", dir: "names", group: true, fixed: true},
	Cursor:      {name: "cursors", dir: "cursors"},
	Log:         {name: "log", dir: "log"},
	Realisation: {name: "realisations", dir: "realisations", suffix: ".doi"},
	// Not under names/: a release that lists names objects, or gc that
	// sweeps them, never meets it.
	NamesComplete: {name: "names-complete", key: "names-complete"},
}

// String returns the kind's name: the first element of its keys ("packs",
// "narinfo", …).
func (t Type) String() string {
	if t < 0 || int(t) >= len(specs) {
		return fmt.Sprintf("layout.Type(%d)", int(t))
	}
	return specs[t].name
}

// Immutable reports whether objects of this kind never change once written
// (packs, index objects, manifests, forward records), so that a copy of one is never stale.
func (t Type) Immutable() bool { return specs[t].fixed }

// Prefix returns the key prefix under which every object of this kind, and
// nothing else, is stored: what to list.
func (t Type) Prefix() string {
	s := specs[t]
	if s.key != "" {
		return s.key
	}
	return s.dir + "/"
}

// Handle names one object: its kind and, for kinds of many objects, its
// name (a pack or index id in hex, a manifest's NarHash in nixbase32, a
// store path hash, a session id).
type Handle struct {
	Type Type
	Name string
}

// Key returns the backend key of the object.
func (h Handle) Key() string {
	s := specs[h.Type]
	if s.key != "" {
		return s.key
	}
	if s.shard && len(h.Name) >= 2 {
		return s.dir + "/" + h.Name[:2] + "/" + h.Name + s.suffix
	}
	return s.dir + "/" + h.Name + s.suffix
}

// String returns the key, for errors and logs.
func (h Handle) String() string { return h.Key() }

// Key returns the backend key of the object of kind t named name.
func Key(t Type, name string) string { return Handle{t, name}.Key() }

// Parse returns the handle of the object stored under key. It fails for a
// key outside the layout; it does not check the name's syntax.
func Parse(key string) (Handle, error) {
	for i, s := range specs {
		if name, ok := s.parse(key); ok {
			return Handle{Type(i), name}, nil
		}
	}
	return Handle{}, fmt.Errorf("layout: %q is not a key of a repository object", key)
}

func (s spec) parse(key string) (string, bool) {
	if s.key != "" {
		return "", key == s.key
	}
	rest, ok := strings.CutPrefix(key, s.dir+"/")
	if !ok {
		return "", false
	}
	if s.shard {
		shard, name, ok := strings.Cut(rest, "/")
		if !ok || shard == "" {
			return "", false
		}
		rest = name
	}
	name, ok := strings.CutSuffix(rest, s.suffix)
	if s.group {
		group, leaf, found := strings.Cut(name, "/")
		return name, ok && found && group != "" && leaf != "" && !strings.Contains(leaf, "/")
	}
	if !ok || name == "" || strings.Contains(name, "/") {
		return "", false
	}
	return name, true
}

// List calls fn, on the calling goroutine, with the name and backend
// information of every object of kind t, in no particular order. Keys
// under the kind's prefix that are not objects of the kind (a stray file
// in a local repository, say) are passed over. An error from fn stops the
// listing and is returned; errors are the backend's, unwrapped.
func List(ctx context.Context, be backend.Backend, t Type, fn func(name string, fi backend.Info) error) error {
	return be.List(ctx, t.Prefix(), func(fi backend.Info) error {
		name, ok := specs[t].parse(fi.Key)
		if !ok {
			return nil
		}
		return fn(name, fi)
	})
}

// ManifestOf returns the handle of the manifest of the NAR whose SHA-256
// is h.
func ManifestOf(h narfmt.Hash) Handle { return Handle{Manifest, h.String()} }

// NameGroup returns the directory under names/ of the NARs of package
// name (storepath.PackageName): 32 hex digits of the name's SHA-256, so that
// any name makes a valid key.
func NameGroup(name string) string {
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:16])
}

// NameOf returns the handle of the names object saying that the NAR whose
// SHA-256 is h belongs to package name.
func NameOf(name string, h narfmt.Hash) Handle {
	return Handle{Names, NameGroup(name) + "/" + h.String()}
}

// NamesPrefix returns the key prefix of the names objects of package name:
// what to list to find its NARs.
func NamesPrefix(name string) string { return specs[Names].dir + "/" + NameGroup(name) + "/" }

// NarInfoOf returns the handle of the narinfo of a store path hash.
func NarInfoOf(hash string) Handle { return Handle{NarInfo, hash} }

// UploadOf returns the handle of the record of a pushed NAR file, named
// as under nar/ in its narinfo's URL ("<FileHash>.nar.xz").
func UploadOf(file string) Handle { return Handle{Upload, file} }

// TombstoneOf returns the handle of the tombstone of a store path hash.
func TombstoneOf(hash string) Handle { return Handle{Tombstone, hash} }

// CursorOf returns the handle of the cursor named id (see ingest.Follow).
func CursorOf(id string) Handle { return Handle{Cursor, id} }

// LogOf returns the handle of the build log of a derivation, named by
// its store path's base name ("<hash>-<name>.drv").
func LogOf(drv string) Handle { return Handle{Log, drv} }

// RealisationOf returns the handle of the realisation with this id
// ("sha256:<hex>!<output>").
func RealisationOf(id string) Handle { return Handle{Realisation, id} }
