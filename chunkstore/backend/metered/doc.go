// Package metered wraps a backend.Backend to count its requests for
// Prometheus: requests, errors and latency by operation, and the bytes
// read and written.
//
// Its metrics are registered on the prometheus.Registerer given to New,
// never on the global default registry:
//
//	nardedup_backend_requests_total{op}             requests begun
//	nardedup_backend_errors_total{op}               failed, not counting a missing object
//	nardedup_backend_request_duration_seconds{op}   latency; a Get's ends when its reader is closed
//	nardedup_backend_read_bytes_total               bytes read by Get
//	nardedup_backend_written_bytes_total            bytes stored by Put
//
// op is one of get, put, stat, list and delete. A missing object
// (backend.ErrNotExist) is an answer, not an error, and the caller's own
// cancellation is not counted as an error either.
package metered
