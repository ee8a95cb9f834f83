//go:build !unix

package chunkstore

// processAlive cannot tell here: every process counts as alive, and the
// lease decides.
func processAlive(int) bool { return true }
