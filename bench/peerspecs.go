package bench

import "path/filepath"

// peerSpec says how to run one peer.
type peerSpec struct {
	name, tool, install, chunking string
	version                       []string                   // arguments that print the version
	env                           func(work string) []string // extra environment, scratch under work
	init                          func(repo string) []string // arguments creating the repository; nil: mkdir
	backup                        func(repo, gen string) []string
}

// peerSpecs are the peers a run knows, by name.
func peerSpecs() map[string]peerSpec {
	borgEnv := func(work string) []string {
		return []string{"BORG_BASE_DIR=" + filepath.Join(work, "base"), "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes",
			"BORG_RELOCATED_REPO_ACCESS_IS_OK=yes", "BORG_PASSPHRASE=", "BORG_DISPLAY_PASSPHRASE=no"}
	}
	borgInit := func(repo string) []string { return []string{"init", "--encryption=none", repo} }
	borg := func(extra ...string) func(repo, gen string) []string {
		return func(repo, gen string) []string {
			args := []string{"create", "--compression", "zstd,19"}
			return append(append(args, extra...), repo+"::"+gen, ".")
		}
	}
	return map[string]peerSpec{
		"casync": {name: "casync", tool: "casync", install: "apt-get install casync", version: []string{"--version"},
			chunking: "16 KiB/64 KiB/256 KiB, zstd (casync's level)",
			env:      func(string) []string { return nil },
			backup: func(repo, gen string) []string {
				return []string{"make", "--chunk-size=16384:65536:262144", "--compression=zstd",
					"--store=" + filepath.Join(repo, "store"), filepath.Join(repo, gen+".caidx"), "."}
			}},
		"borg": {name: "borg", tool: "borg", install: "apt-get install borgbackup", version: []string{"--version"},
			chunking: "default chunker (buzhash 512 KiB/2 MiB/8 MiB), zstd 19", env: borgEnv, init: borgInit, backup: borg()},
		"borg-64k": {name: "borg-64k", tool: "borg", install: "apt-get install borgbackup", version: []string{"--version"},
			chunking: "buzhash 16 KiB/64 KiB/1 MiB, zstd 19", env: borgEnv, init: borgInit,
			backup: borg("--chunker-params", "buzhash,14,20,16,4095")},
		"restic": {name: "restic", tool: "restic", install: "go install github.com/restic/restic/cmd/restic@v0.18.1",
			version:  []string{"version"},
			chunking: "Rabin 512 KiB/1 MiB/8 MiB, zstd max",
			env: func(work string) []string {
				return []string{"RESTIC_REPOSITORY=" + filepath.Join(work, "repo"), "RESTIC_PASSWORD=nardedup-bench",
					"RESTIC_CACHE_DIR=" + filepath.Join(work, "cache"), "RESTIC_PROGRESS_FPS=0.016"}
			},
			init: func(string) []string { return []string{"init"} },
			backup: func(_, gen string) []string {
				return []string{"backup", "--compression", "max", "--host", "bench", "--tag", gen, "."}
			}},
	}
}
