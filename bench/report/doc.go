// Package report renders a benchmark report measured by package bench:
// Markdown tables (Markdown) and, with the report's JSON, SVG bar charts
// in files of a directory (WriteFiles).
//
// It only formats: every number comes from the bench.Report it is given,
// whether a run just measured it or bench.ParseJSON read it back from an
// earlier run's report.json.
package report
