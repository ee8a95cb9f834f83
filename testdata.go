// Package nardedup holds the test fixtures that more than one package
// uses, in testdata/, and embeds the part of them that the program itself
// ships: the sample binary cache of testdata/sample, which the demo
// ingests and serves. Read the sample through internal/sample; tests read
// the other fixtures from testdata/ on disk.
package nardedup

import "embed"

// Sample is testdata/sample: a small signed binary cache (bucket/), the key
// that signed it (public-key), the store paths of its generations
// (gen-N.paths) and the packages it was built from (packages.txt).
//
//go:embed testdata/sample
var Sample embed.FS
