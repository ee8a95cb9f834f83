// Package scaletest holds the end-to-end test of nardedup scaled out on S3:
// several ingest processes writing one repository at once (overlapping, or
// each taking one shard of the source), several servers
// (with and without the local cache) reading it, real Nix fetching from
// each, and the S3 requests and throughput of serving with a cold and a
// warm cache. The package has no non-test code.
package scaletest
