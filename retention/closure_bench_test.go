package retention

import (
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/nardedup/nardedup/narfmt/nixbase32"
)

// BenchmarkClosureMemory measures the heap that walkClosure's map of store
// path hashes takes per path, for a closure of a million paths.
func BenchmarkClosureMemory(b *testing.B) {
	const n = 1_000_000
	rng := rand.New(rand.NewPCG(1, 2))
	hashes := make([]string, n)
	var raw [20]byte
	for i := range hashes {
		for j := range raw {
			raw[j] = byte(rng.Uint32())
		}
		hashes[i] = nixbase32.EncodeToString(raw[:])
	}
	var perPath float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		closure := make(map[string]bool)
		for _, h := range hashes {
			closure[string([]byte(h))] = true // a string of its own, as parsed
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perPath = float64(after.HeapAlloc-before.HeapAlloc) / n
		runtime.KeepAlive(closure)
	}
	b.ReportMetric(perPath, "B/path")
}
