//go:build cgo

package decompress_test

// cgoOn says whether the tests were built with cgo.
const cgoOn = true
