package cost

import (
	"fmt"
	"io"
	"strings"
)

// Options say how to price a Measured.
type Options struct {
	Prices  []Prices // nil: Defaults()
	Traffic Traffic
	Target  Target // the projection; zero NARs: none
}

// Format is how Write lays out its tables.
type Format int

// The formats Write knows.
const (
	Text Format = iota
	Markdown
)

// Write prices m under every table of opts.Prices and writes the bills, a
// note on each assumption and, when opts.Target has NARs, the projection
// to it.
func Write(w io.Writer, f Format, m Measured, opts Options) error {
	if opts.Prices == nil {
		opts.Prices = Defaults()
	}
	m = m.WithDefaultGets()
	us := m.Usages()
	var b strings.Builder
	table(&b, f, opts, us)
	for _, n := range notes(m, opts) {
		b.WriteString(bullet(f) + n + "\n")
	}
	if fac := opts.Target.Factor(m); fac > 0 {
		b.WriteString("\n")
		b.WriteString(projection(m, opts.Target, fac) + "\n\n")
		table(&b, f, opts, Project(us, fac))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func bullet(f Format) string {
	if f == Markdown {
		return "- "
	}
	return "  "
}

var header = []string{"prices", "holding", "stored", "objects", "GETs/NAR", "out/NAR", "storage", "requests", "egress", "per month", "once"}

// table writes one row per price table and usage.
func table(b *strings.Builder, f Format, opts Options, us []Usage) {
	rows := [][]string{header}
	for _, p := range opts.Prices {
		for _, u := range us {
			bl := p.Bill(u, opts.Traffic)
			objs, once := "-", "-"
			if u.Objects > 0 {
				objs, once = fmt.Sprintf("%.0f", u.Objects), money(bl.Once)
			}
			rows = append(rows, []string{p.Name + " (" + p.Currency + ")", u.Name, Size(u.StoredBytes), objs,
				fmt.Sprintf("%.2f", u.GetsPerNAR), Size(u.BytesPerNAR), money(bl.Storage), money(bl.Requests),
				money(bl.Egress), money(bl.Month()), once})
		}
	}
	if f == Markdown {
		markdown(b, rows)
	} else {
		text(b, rows)
	}
	b.WriteString("\n")
}

// text aligns rows in columns: the first two to the left, the others to
// the right.
func text(b *strings.Builder, rows [][]string) {
	width := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	for _, r := range rows {
		var cells []string
		for i, c := range r {
			pad := strings.Repeat(" ", width[i]-len([]rune(c)))
			if i < 2 {
				cells = append(cells, c+pad)
			} else {
				cells = append(cells, pad+c)
			}
		}
		b.WriteString(strings.TrimRight(strings.Join(cells, "  "), " ") + "\n")
	}
}

func markdown(b *strings.Builder, rows [][]string) {
	b.WriteString("| " + strings.Join(rows[0], " | ") + " |\n|---|---|" + strings.Repeat("--:|", len(rows[0])-2) + "\n")
	for _, r := range rows[1:] {
		b.WriteString("| " + strings.Join(r, " | ") + " |\n")
	}
}

// notes say what each figure of the table assumes.
func notes(m Measured, opts Options) []string {
	ns := []string{fmt.Sprintf("%.0f NARs served per month. GB = 2^30 bytes, as AWS bills; first-tier list prices, "+
		"volume tiers and free allowances ignored. once: one PUT per object (the upload) and one full listing (a LIST per 1000 objects).",
		opts.Traffic.NARsPerMonth)}
	for _, p := range opts.Prices {
		ns = append(ns, fmt.Sprintf("%s: %s, %s.", p.Name, p.Source, p.Date))
	}
	if m.SourceBytes > 0 {
		ns = append(ns, "source nar.xz: stored = FileSize summed over the narinfos, objects = NAR files + narinfos, "+
			"1 GET per NAR served, which sends its nar.xz file.")
	} else {
		ns = append(ns, "The source's size is not known (its narinfos have no FileSize): only the repository is priced.")
	}
	how := "measured by the serve run"
	if !m.GetsMeasured {
		how = "not measured here: what the bench's serve run counts on the sample cache"
	}
	ns = append(ns, fmt.Sprintf("nardedup: stored bytes and objects of the repository; backend GETs per NAR served: cold %.2f "+
		"(a new server, empty caches), warm %.2f (its frames in memory; it reads the manifest again, which --cache-dir "+
		"would keep on local disk), both without --cache-dir and %s. The narinfo GET a Nix client makes first costs one request on "+
		"either side and is left out of both.", m.ColdGets, m.WarmGets, how))
	out := "the mean nar.xz file, assumed"
	switch {
	case m.ServedBytes > 0:
		out = "measured"
	case m.SourceBytes == 0:
		out = "the mean NAR, as --compression none sends it"
	}
	ns = append(ns, fmt.Sprintf("Egress depends on what clients fetch: nardedup serves .nar.zst at its own compression "+
		"(the whole NAR with --compression none), not the source's nar.xz; here each NAR it serves sends %s (%s).",
		Size(m.served()), out))
	return ns
}

// projection says how the projected table was scaled.
func projection(m Measured, t Target, f float64) string {
	s := fmt.Sprintf("Projected to a bucket of %.0f NARs: every stored byte and object above × %s (%d NARs measured), "+
		"assuming the measured ratios hold at that size; traffic as above.", t.NARs, factor(f), m.NARs)
	if m.SourceBytes > 0 && t.XZBytes > 0 {
		s += fmt.Sprintf(" Scaled this way the source holds %s of nar.xz, against the bucket's %s.",
			Size(float64(m.SourceBytes)*f), Size(t.XZBytes))
	}
	return s
}

// factor writes a scale factor: whole above 1000, else 4 digits.
func factor(f float64) string {
	if f >= 1000 {
		return fmt.Sprintf("%.0f", f)
	}
	return fmt.Sprintf("%.4g", f)
}

// money writes an amount with cents.
func money(v float64) string { return fmt.Sprintf("%.2f", v) }

// Size writes n bytes in the largest binary unit it reaches, B to PiB.
func Size(n float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}
	i := 0
	for ; i < len(units)-1 && n >= 1024; i++ {
		n /= 1024
	}
	if i == 0 {
		return fmt.Sprintf("%.0f B", n)
	}
	return fmt.Sprintf("%.1f %s", n, units[i])
}
