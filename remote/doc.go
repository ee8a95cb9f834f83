// Package remote is the client of the read API that `nardedup serve`
// offers beside the binary cache protocol (see package server): it
// rebuilds a NAR from a remote repository, fetching its manifest and only
// the frames that hold chunks the caller lacks. Mirrors and local
// substituters are built on it.
//
// A Client is given the server's URL and the HTTP client, TLS settings
// and credentials to reach it, as the HTTP source of ingest is (package
// source): credentials in the URL (https://user:password@host/) go out as
// basic auth, Options.Token as a bearer token.
//
// FetchNAR (or Manifest, then Fetch) writes a NAR to an io.Writer. Every
// chunk is taken from the caller's Have function when it holds it, else
// cut from a frame fetched by its location; a frame is fetched once for
// its consecutive chunks, and once for all the fetches of a Client that
// want it at the same time. Stats counts the bytes received by kind
// (manifests, frames). When a frame's pack is gone (garbage collection
// deleted it after the manifest was written), the pack's forward record
// says where its chunks live now, and Fetch follows it, up to
// forward.MaxHops records.
//
// The server is not trusted. Every chunk, held or fetched, is checked
// against its id (its BLAKE3) and the NAR against its NarHash; the last
// byte of the NAR is written only once the hash has matched, so a writer
// never receives a complete wrong NAR. Every answer is bounded in size
// before it is read, a download that receives nothing for
// Options.IdleTimeout is cut, and small objects must arrive within
// Options.SmallTimeout. Errors name the object (manifest, frame URL,
// forward record, chunk) and the server.
//
// Memory is bounded by frames, not by NARs: each of a NAR's three chunk
// streams (recipe, positions, residue) holds the one decompressed frame
// it reads from.
package remote
