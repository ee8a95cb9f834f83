//go:build cgo

package source_test

// cgoOn says whether the tests were built with cgo.
const cgoOn = true
