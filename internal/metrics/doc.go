// Package metrics collects the Prometheus metrics of nardedup's commands
// that are not tied to one library package: the Go runtime's and the
// process's, the counters of the stores' caches, the progress of an
// ingest or a collection, and the upstream requests of a pull-through
// server. Everything is registered on a registry the command makes
// (NewRegistry), never on the global default one.
//
// The backend's metrics come from chunkstore/backend/metered and the HTTP
// server's from server.Observe, on the same registry.
package metrics
