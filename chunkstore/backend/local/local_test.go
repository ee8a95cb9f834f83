package local_test

import (
	"testing"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/backendtest"
	"github.com/nardedup/nardedup/chunkstore/backend/local"
)

func openLocal(tb testing.TB) *local.Backend {
	tb.Helper()
	b, err := local.Open(tb.TempDir() + "/repo")
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend { return openLocal(t) })
}

func BenchmarkBackend(b *testing.B) {
	backendtest.Bench(b, func(b *testing.B) backend.Backend { return openLocal(b) })
}
