package cost

import "math"

// Usage is one way of holding and serving a set of NARs.
type Usage struct {
	Name        string
	StoredBytes float64
	Objects     float64 // 0 when not known
	GetsPerNAR  float64 // GET requests a NAR served costs
	BytesPerNAR float64 // bytes sent out per NAR served
}

// Traffic is the serving load a bill assumes.
type Traffic struct {
	NARsPerMonth float64
}

// Bill is what a Usage costs under one price table, in its currency.
type Bill struct {
	Storage, Requests, Egress float64 // each month
	Once                      float64 // the upload and one full listing
}

// Month is the monthly total: storage, requests and egress.
func (b Bill) Month() float64 { return b.Storage + b.Requests + b.Egress }

// Bill prices u under p for traffic t.
func (p Prices) Bill(u Usage, t Traffic) Bill {
	return Bill{
		Storage:  u.StoredBytes / GB * p.StorageGBMonth,
		Requests: t.NARsPerMonth * u.GetsPerNAR / 1000 * p.GetPer1000,
		Egress:   t.NARsPerMonth * u.BytesPerNAR / GB * p.EgressGB,
		Once:     u.Objects/1000*p.PutPer1000 + math.Ceil(u.Objects/1000)/1000*p.ListPer1000,
	}
}

// Scale returns u holding f times as many NARs: its stored bytes and
// objects times f, the same per NAR served.
func (u Usage) Scale(f float64) Usage {
	u.StoredBytes *= f
	u.Objects *= f
	return u
}

// The backend GET requests per NAR served assumed when none were
// measured: a new server (empty caches) and one whose frame cache holds
// the NAR's frames, both without --cache-dir and without the narinfo
// request. They are what the bench's serve run counts on the sample cache
// (bench's TestReportSample logs them; see README, "What it costs").
const (
	DefaultColdGets = 4
	DefaultWarmGets = 1
)

// Measured is what a repository and its source measure.
type Measured struct {
	NARs          int64 // store paths: narinfos
	NarBytes      int64 // their NarSize
	SourceBytes   int64 // their FileSize: the source's nar.xz files; 0 when not known
	SourceObjects int64 // the source's NAR files and narinfos
	StoredBytes   int64 // every object of the repository
	StoredObjects int64 // 0 when not known
	// ColdGets and WarmGets are the backend GET requests per NAR served
	// by a new server and by one that served it before; GetsMeasured says
	// whether they were measured or are DefaultColdGets and
	// DefaultWarmGets.
	ColdGets, WarmGets float64
	GetsMeasured       bool
	// ServedBytes is the mean size of a NAR as nardedup serves it; 0
	// when not measured (the mean source file is assumed).
	ServedBytes float64
}

// WithDefaultGets returns m with the default GET counts when none were
// measured.
func (m Measured) WithDefaultGets() Measured {
	if !m.GetsMeasured {
		m.ColdGets, m.WarmGets = DefaultColdGets, DefaultWarmGets
	}
	return m
}

// served is the bytes out per NAR nardedup serves: measured, else the mean
// source file, else the mean NAR.
func (m Measured) served() float64 {
	switch {
	case m.ServedBytes > 0:
		return m.ServedBytes
	case m.SourceBytes > 0:
		return perNAR(m.SourceBytes, m.NARs)
	}
	return perNAR(m.NarBytes, m.NARs)
}

func perNAR(n, nars int64) float64 {
	if nars == 0 {
		return 0
	}
	return float64(n) / float64(nars)
}

// Usages are the rows of the comparison: the source bucket (when its size
// is known; one GET per NAR, its file sent), then nardedup served cold and
// warm.
func (m Measured) Usages() []Usage {
	var us []Usage
	if m.SourceBytes > 0 {
		us = append(us, Usage{Name: "source nar.xz", StoredBytes: float64(m.SourceBytes), Objects: float64(m.SourceObjects),
			GetsPerNAR: 1, BytesPerNAR: perNAR(m.SourceBytes, m.NARs)})
	}
	out := m.served()
	for _, c := range []struct {
		name string
		gets float64
	}{{"nardedup, cold", m.ColdGets}, {"nardedup, warm", m.WarmGets}} {
		us = append(us, Usage{Name: c.name, StoredBytes: float64(m.StoredBytes), Objects: float64(m.StoredObjects),
			GetsPerNAR: c.gets, BytesPerNAR: out})
	}
	return us
}

// Target is the bucket a projection scales to.
type Target struct {
	NARs    float64
	XZBytes float64 // its nar.xz files, for comparison only
}

// DefaultTarget is a bucket of 10^9 objects: 5·10^8 NARs and their
// narinfos, about 600 TB (2^40 bytes each) of nar.xz.
func DefaultTarget() Target { return Target{NARs: 5e8, XZBytes: 600 * (1 << 40)} }

// Factor is how many times more NARs the target holds than m.
func (t Target) Factor(m Measured) float64 {
	if m.NARs == 0 {
		return 0
	}
	return t.NARs / float64(m.NARs)
}

// Project scales every usage by f (Usage.Scale).
func Project(us []Usage, f float64) []Usage {
	out := make([]Usage, len(us))
	for i, u := range us {
		out[i] = u.Scale(f)
	}
	return out
}
