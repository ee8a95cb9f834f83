package bench

import "context"

// runRaw decompresses the corpus once and measures, over those raw NARs,
// the speed section and the peers, unless both are skipped.
func (r *Report) runRaw(ctx context.Context, opts Options) error {
	if opts.SkipSpeed && opts.SkipPeers {
		return nil
	}
	rc, err := extractRaw(ctx, opts)
	if err != nil {
		return err
	}
	defer rc.remove()
	if !opts.SkipSpeed {
		if err := r.runSpeed(ctx, opts, rc); err != nil {
			return err
		}
	}
	if !opts.SkipPeers {
		if err := r.runPeers(ctx, opts, rc); err != nil {
			return err
		}
	}
	return nil
}
