// Package cost prices a repository: it turns what a bucket stores and
// serves into a monthly bill, so that the savings of nardedup read in
// money.
//
// # Prices
//
// A Prices table holds an object store's list prices: storage per
// GB-month, PUT, GET and LIST requests per 1000, and data transfer out per
// GB. Load reads tables from a JSON file; Defaults are the tables embedded
// from prices.json (each names its source and date). A GB is 2^30 bytes,
// as AWS bills it. Only the first price tier is used: volume discounts and
// free allowances are ignored.
//
// # Model
//
// A Usage is one way of holding and serving the same NARs: the bytes and
// objects it stores, the GET requests a NAR served costs and the bytes a
// NAR served sends. Prices.Bill prices a Usage for a Traffic (NARs served
// per month): storage, requests and egress each month, and once the upload
// (one PUT per object) and one full listing (one LIST per 1000 objects).
//
// Measured says what a run or a repository measured; its Usages are the
// rows of the comparison: the source bucket of nar.xz files next to the
// nardedup repository, served from cold and from warm caches. Project
// scales them to another bucket's number of NARs, assuming the measured
// ratios hold. A Sheet writes the bills as a text or Markdown table.
package cost
