package mem_test

import (
	"testing"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/mem"
	"github.com/nardedup/nardedup/internal/backendtest"
)

func TestConformance(t *testing.T) {
	backendtest.Run(t, func(*testing.T) backend.Backend { return mem.New() })
}

func BenchmarkBackend(b *testing.B) {
	backendtest.Bench(b, func(*testing.B) backend.Backend { return mem.New() })
}
