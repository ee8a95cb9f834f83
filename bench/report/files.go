package report

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/nardedup/nardedup/bench"
)

// WriteFiles writes report.md, report.json and the SVG charts of r into
// dir (created).
func WriteFiles(dir string, r *bench.Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	js, err := r.JSON()
	if err != nil {
		return err
	}
	files := map[string][]byte{"report.json": js}
	svgs := charts(r)
	md := Markdown(r)
	for name, svg := range svgs {
		files[name] = []byte(svg)
	}
	if len(svgs) > 0 {
		md += "\n## Charts\n\n"
		for _, name := range chartOrder {
			if _, ok := svgs[name]; ok {
				md += fmt.Sprintf("![%s](%s)\n\n", name, name)
			}
		}
	}
	files["report.md"] = []byte(md)
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
	}
	return nil
}
