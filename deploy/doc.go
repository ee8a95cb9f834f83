// Package deploy holds the files that install and run nardedup (see
// README.md there): hardened systemd units, a NixOS module, a container
// image recipe and a Kubernetes ingest Job, and tests that they parse,
// pass their tools' checks where those are installed, name only real
// flags and say what the README says. The package has no non-test code.
package deploy
