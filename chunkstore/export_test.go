package chunkstore

// SetMaxStaged sets how many chunk bytes CopyPack keeps between checking
// a pack and copying it, and returns a function that restores the default.
func SetMaxStaged(n int) (restore func()) {
	old := maxStaged
	maxStaged = n
	return func() { maxStaged = old }
}
