package narstore

import "context"

// Flush makes what s's chunk store holds in its open pack durable, for the
// external tests.
func Flush(ctx context.Context, s *Store) error { return s.cs.Flush(ctx) }
