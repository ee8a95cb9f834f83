package cost_test

import (
	"bytes"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/cost"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// byName returns the embedded price table called name.
func byName(t *testing.T, name string) cost.Prices {
	t.Helper()
	for _, p := range cost.Defaults() {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("no embedded price table %q", name)
	return cost.Prices{}
}

// TestBill checks bills worked out by hand. A TiB is 1024 GB of 2^30
// bytes: a month of it at 0.023 is 23.552.
func TestBill(t *testing.T) {
	s3, r2 := byName(t, "S3 Standard us-east-1"), byName(t, "Cloudflare R2")
	million := cost.Traffic{NARsPerMonth: 1e6}
	for _, c := range []struct {
		name string
		p    cost.Prices
		u    cost.Usage
		t    cost.Traffic
		want cost.Bill
	}{
		{"S3, 1 TiB stored", s3, cost.Usage{StoredBytes: 1 << 40}, cost.Traffic{}, cost.Bill{Storage: 23.552}},
		{"R2, 1 TiB stored", r2, cost.Usage{StoredBytes: 1 << 40}, cost.Traffic{}, cost.Bill{Storage: 15.36}},
		// 5·10^6 GETs at 0.0004 per 1000; 10^6 MiB = 976.5625 GB at 0.09.
		{"S3, served", s3, cost.Usage{GetsPerNAR: 5, BytesPerNAR: 1 << 20}, million, cost.Bill{Requests: 2, Egress: 87.890625}},
		{"R2, served", r2, cost.Usage{GetsPerNAR: 5, BytesPerNAR: 1 << 20}, million, cost.Bill{Requests: 1.8}},
		// 10^6 PUTs at 0.005 per 1000, and 1000 LISTs.
		{"S3, uploaded", s3, cost.Usage{Objects: 1e6}, cost.Traffic{}, cost.Bill{Once: 5.005}},
		// 1001 objects take two LIST requests.
		{"R2, uploaded", r2, cost.Usage{Objects: 1001}, cost.Traffic{}, cost.Bill{Once: 1.001*0.0045 + 2*0.0000045}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := c.p.Bill(c.u, c.t)
			if !near(got.Storage, c.want.Storage) || !near(got.Requests, c.want.Requests) ||
				!near(got.Egress, c.want.Egress) || !near(got.Once, c.want.Once) {
				t.Errorf("got %+v; want %+v", got, c.want)
			}
		})
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestProject(t *testing.T) {
	m := cost.Measured{NARs: 100, NarBytes: 400, SourceBytes: 200, SourceObjects: 190, StoredBytes: 50, StoredObjects: 20}
	f := cost.DefaultTarget().Factor(m)
	if f != 5e6 {
		t.Fatalf("factor %v; want 5e6", f)
	}
	us := cost.Project(m.WithDefaultGets().Usages(), f)
	if len(us) != 3 {
		t.Fatalf("got %d usages; want 3 (source, cold, warm)", len(us))
	}
	src, cold := us[0], us[1]
	if src.StoredBytes != 1e9 || src.Objects != 9.5e8 || src.BytesPerNAR != 2 || src.GetsPerNAR != 1 {
		t.Errorf("source %+v; want 1e9 bytes, 9.5e8 objects, 2 bytes and 1 GET per NAR", src)
	}
	if cold.StoredBytes != 2.5e8 || cold.Objects != 1e8 || cold.GetsPerNAR != cost.DefaultColdGets || cold.BytesPerNAR != 2 {
		t.Errorf("nardedup %+v; want 2.5e8 bytes, 1e8 objects, default GETs, 2 bytes per NAR", cold)
	}
}

// TestUsagesWithoutSource: without FileSize only the repository is priced,
// and it is taken to send the whole NAR.
func TestUsagesWithoutSource(t *testing.T) {
	us := cost.Measured{NARs: 4, NarBytes: 400, StoredBytes: 50}.Usages()
	if len(us) != 2 || us[0].BytesPerNAR != 100 {
		t.Errorf("got %+v; want 2 nardedup usages sending 100 bytes per NAR", us)
	}
}

func TestLoad(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"empty", `{"prices": []}`, "prices.json: no price tables"},
		{"unknown field", `{"prices": [{"name": "x", "currency": "USD", "egres_gb": 1}]}`, `unknown field "egres_gb"`},
		{"negative", `{"prices": [{"name": "x", "currency": "USD", "egress_gb": -1}]}`, `price table 1 ("x"): egress_gb is -1`},
		{"no name", `{"prices": [{"currency": "USD"}]}`, `price table 1 (""): no name`},
		{"no currency", `{"prices": [{"name": "x"}]}`, `price table 1 ("x"): no currency`},
		{"not JSON", `prices`, "prices.json: invalid character"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := cost.Load(strings.NewReader(c.in), "prices.json")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v; want an error containing %q", err, c.want)
			}
		})
	}
}

// TestDefaultsFile checks that prices.json, the embedded defaults, loads
// from disk as from the binary.
func TestDefaultsFile(t *testing.T) {
	ps, err := cost.LoadFile("prices.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != len(cost.Defaults()) || ps[0] != cost.Defaults()[0] {
		t.Errorf("got %+v; want the embedded defaults", ps)
	}
	if _, err := cost.LoadFile(filepath.Join(t.TempDir(), "none.json")); err == nil || !strings.Contains(err.Error(), "none.json") {
		t.Errorf("got %v; want an error naming none.json", err)
	}
}

// TestWriteGolden compares the printed tables with testdata/*.txt and
// *.md; -update rewrites them.
func TestWriteGolden(t *testing.T) {
	full := cost.Measured{NARs: 127, NarBytes: 300 << 20, SourceBytes: 80 << 20, SourceObjects: 250,
		StoredBytes: 27 << 20, StoredObjects: 61, ColdGets: 4.5, WarmGets: 0.25, GetsMeasured: true, ServedBytes: 700 << 10}
	opts := cost.Options{Traffic: cost.Traffic{NARsPerMonth: 1e6}, Target: cost.DefaultTarget()}
	for _, c := range []struct {
		name string
		m    cost.Measured
		f    cost.Format
		opts cost.Options
	}{
		{"measured.txt", full, cost.Text, opts},
		{"measured.md", full, cost.Markdown, opts},
		{"defaults.txt", cost.Measured{NARs: 127, NarBytes: 300 << 20, SourceBytes: 80 << 20, SourceObjects: 250, StoredBytes: 27 << 20, StoredObjects: 61}, cost.Text, opts},
		{"nosource.txt", cost.Measured{NARs: 127, NarBytes: 300 << 20, StoredBytes: 27 << 20}, cost.Text, cost.Options{Traffic: opts.Traffic}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := cost.Write(&b, c.f, c.m, c.opts); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", c.name)
			if *update {
				if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b.Bytes(), want) {
				t.Errorf("got\n%s\nwant (%s, -update rewrites it)\n%s", b.Bytes(), golden, want)
			}
		})
	}
}
