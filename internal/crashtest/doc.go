// Package crashtest holds the crash-during-ingest harness: a test that builds
// the nardedup binary, kills "nardedup ingest" with SIGKILL at seeded random
// moments, and checks the crash-safety contract of the repository.
//
// After every kill, every narinfo that is visible must be the upstream
// narinfo byte for byte and must rebuild to its NarHash ("nardedup verify"
// passes), temporary files left by the killed process must never count as
// objects, and the set of visible store paths never shrinks. Restarting the
// ingest, also after the local index cache was deleted and after a resumed run
// was itself killed, must finish and leave exactly the store paths of an
// uninterrupted reference ingest. TestCrashDuringNamesIngest runs the same
// trials with "ingest --dedup=names", which keeps no local index.
// TestCrashDuringNamesUpgrade kills "upgrade --names" during its pass: the
// names-complete marker, which makes names dedup ingest's default, must
// never be found while a NAR lacks its names object.
//
//	go test ./internal/crashtest/ -v                          # small corpus, 20 trials
//	go test ./internal/crashtest/ -short -v                   # embedded sample cache, 6 trials
//	go test ./internal/crashtest/ -v -crashtest.seed=7 -crashtest.trials=40
//
// NARDEDUP_CRASH_SEED is the environment twin of -crashtest.seed. The seed
// fixes each trial's plan and kill delay (a fraction of the reference run's
// duration), so a failing trial is rerun with the seed it printed.
package crashtest
