package admin_test

import (
	"testing"

	"github.com/nardedup/nardedup/admin"
	"github.com/nardedup/nardedup/cost"
)

func TestStatsMeasured(t *testing.T) {
	s := &admin.Stats{
		Objects:     map[string]admin.Objects{"packs": {Count: 3, Bytes: 900}, "narinfo": {Count: 5, Bytes: 100}},
		StoredBytes: 1000, NarInfos: 5, NarBytes: 8000, FileBytes: 3000, UniqueNARs: 4,
	}
	want := cost.Measured{NARs: 5, NarBytes: 8000, SourceBytes: 3000, SourceObjects: 9, StoredBytes: 1000, StoredObjects: 8}
	if got := s.Measured(); got != want {
		t.Errorf("got %+v; want %+v", got, want)
	}
}
