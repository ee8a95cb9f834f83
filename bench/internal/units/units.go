// Package units writes byte counts for people: the benchmark's log lines
// and its report use it, so that both spell a size the same way.
package units

import "fmt"

// MiB writes n in MiB with one decimal: "12.3 MiB".
func MiB(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// GiB writes n in GiB with one decimal: "23.5 GiB".
func GiB(n int64) string { return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30)) }

// Exact writes a power-of-two-ish size without rounding: "4 MiB" or
// "64 KiB" when n is a whole number of them, bytes otherwise.
func Exact(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	if n%(1<<10) == 0 {
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// Size writes n in the largest of B, KiB and MiB that it reaches.
func Size(n int64) string {
	switch {
	case n >= 1<<20:
		return MiB(n)
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
