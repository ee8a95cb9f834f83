package cost

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// GB is the billing gigabyte: AWS bills storage and transfer in GB of
// 2^30 bytes.
const GB = 1 << 30

// Prices is one object store's list prices.
type Prices struct {
	Name           string  `json:"name"`
	Source         string  `json:"source"` // where the numbers come from
	Date           string  `json:"date"`   // when they were read there
	Currency       string  `json:"currency"`
	StorageGBMonth float64 `json:"storage_gb_month"` // per GB stored for a month
	PutPer1000     float64 `json:"put_per_1000"`
	GetPer1000     float64 `json:"get_per_1000"`
	ListPer1000    float64 `json:"list_per_1000"`
	EgressGB       float64 `json:"egress_gb"` // per GB sent out
}

// priceFile is the JSON form of a prices file.
type priceFile struct {
	Prices []Prices `json:"prices"`
}

//go:embed prices.json
var defaultPrices []byte

// Defaults returns the embedded price tables: S3 Standard in us-east-1 and
// Cloudflare R2.
func Defaults() []Prices {
	ps, err := Load(bytes.NewReader(defaultPrices), "prices.json")
	if err != nil {
		panic(err) // the embedded file is checked by the tests
	}
	return ps
}

// LoadFile reads the price tables of the JSON file at path.
func LoadFile(path string) ([]Prices, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cost: %w", err)
	}
	defer f.Close()
	return Load(f, path)
}

// Load reads price tables in JSON, {"prices": [{"name": …}, …]}, and
// checks them; name names the input in errors. Unknown fields are refused,
// so that a misspelt price is not read as zero.
func Load(r io.Reader, name string) ([]Prices, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var f priceFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("cost: %s: %w", name, err)
	}
	if len(f.Prices) == 0 {
		return nil, fmt.Errorf("cost: %s: no price tables", name)
	}
	for i, p := range f.Prices {
		if err := p.check(); err != nil {
			return nil, fmt.Errorf("cost: %s: price table %d (%q): %w", name, i+1, p.Name, err)
		}
	}
	return f.Prices, nil
}

// check refuses a table without a name or currency, or with a price that
// is negative or not a number.
func (p Prices) check() error {
	if p.Name == "" {
		return errors.New("no name")
	}
	if p.Currency == "" {
		return errors.New("no currency")
	}
	for _, f := range []struct {
		name string
		v    float64
	}{
		{"storage_gb_month", p.StorageGBMonth}, {"put_per_1000", p.PutPer1000}, {"get_per_1000", p.GetPer1000},
		{"list_per_1000", p.ListPer1000}, {"egress_gb", p.EgressGB},
	} {
		if f.v < 0 {
			return fmt.Errorf("%s is %v, want a price of at least 0", f.name, f.v)
		}
	}
	return nil
}
