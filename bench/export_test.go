package bench

import "github.com/nardedup/nardedup/repo"

// The values the sweep tries, for the external tests.
var (
	SweepAvgBits = sweepAvgBits
	SweepLevels  = sweepLevels
	SweepGroups  = sweepGroups
)

// PointConfig is the repository configuration of p, for the external
// tests.
func PointConfig(p SweepPoint) repo.Config { return p.config() }
