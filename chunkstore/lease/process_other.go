//go:build !unix

package lease

// processAlive cannot tell here: every process counts as alive, and the
// lease decides.
func processAlive(int) bool { return true }
