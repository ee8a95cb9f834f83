package bench

import "context"

// runRaw decompresses the corpus once and measures, over those raw NARs,
// the speed section and the peers, unless both are skipped.
func (r *runner) runRaw(ctx context.Context) error {
	if r.opts.SkipSpeed && r.opts.SkipPeers {
		return nil
	}
	rc, err := r.extractRaw(ctx)
	if err != nil {
		return err
	}
	defer rc.remove()
	if !r.opts.SkipSpeed {
		if err := r.runSpeed(ctx, rc); err != nil {
			return err
		}
	}
	if !r.opts.SkipPeers {
		if err := r.runPeers(ctx, rc); err != nil {
			return err
		}
	}
	return nil
}
