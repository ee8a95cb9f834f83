// Package deploy holds examples of running nardedup on a cluster (see
// README.md there) and a test that they parse and say what the README
// says. The package has no non-test code.
package deploy
