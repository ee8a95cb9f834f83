// Package faulttest holds cross-package tests of what nardedup does when its
// storage misbehaves: bit rot in every kind of repository object (packs,
// index objects, manifests, narinfos, the config), damage to the local bbolt
// index, and write faults during ingest (a full disk on a chosen Put, a
// stream cut mid-Put, a real tmpfs that fills up).
//
// Every test builds a repository holding the embedded sample binary cache
// (internal/sample) with small chunks and packs, so that it spreads over
// several packs and frames, damages or faults one thing, and checks that
// admin.Verify names exactly the NARs that depend on it, that errors name
// the damaged object, and that the repository recovers (Rebuild, a resumed
// ingest) to serve every NAR bit for bit.
//
//	go test ./internal/faulttest/ -v
//
// The tmpfs test mounts a small tmpfs and needs root; without it (or when
// the mount is refused) it is skipped with the reason.
package faulttest
