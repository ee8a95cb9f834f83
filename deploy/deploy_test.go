package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// job is the part of a Kubernetes Job the test looks at.
type job struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Spec       struct {
		CompletionMode string `yaml:"completionMode"`
		Completions    int    `yaml:"completions"`
		Parallelism    int    `yaml:"parallelism"`
		Template       struct {
			Spec struct {
				RestartPolicy string      `yaml:"restartPolicy"`
				Containers    []container `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type container struct {
	Name    string   `yaml:"name"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	EnvFrom []struct {
		SecretRef struct {
			Name string `yaml:"name"`
		} `yaml:"secretRef"`
	} `yaml:"envFrom"`
	Env []envVar `yaml:"env"`
}

type envVar struct {
	Name      string `yaml:"name"`
	ValueFrom struct {
		FieldRef struct {
			FieldPath string `yaml:"fieldPath"`
		} `yaml:"fieldRef"`
	} `yaml:"valueFrom"`
}

// The Indexed Job runs one ingest shard per completion index, with
// credentials from a Secret.
func TestIngestIndexedJob(t *testing.T) {
	data, err := os.ReadFile("kubernetes/ingest-indexed-job.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var j job
	if err := yaml.Unmarshal(data, &j); err != nil {
		t.Fatal(err)
	}
	s := j.Spec
	if j.APIVersion != "batch/v1" || j.Kind != "Job" || s.CompletionMode != "Indexed" {
		t.Errorf("%s %s, completionMode %q; want a batch/v1 Job, completionMode Indexed", j.APIVersion, j.Kind, s.CompletionMode)
	}
	if s.Completions < 2 || s.Parallelism != s.Completions || s.Template.Spec.RestartPolicy != "Never" {
		t.Errorf("completions %d, parallelism %d, restartPolicy %q; want N > 1 of each, Never",
			s.Completions, s.Parallelism, s.Template.Spec.RestartPolicy)
	}
	i := slices.IndexFunc(s.Template.Spec.Containers, func(c container) bool { return c.Name == "ingest" })
	if i < 0 {
		t.Fatal("no container named ingest")
	}
	c := s.Template.Spec.Containers[i]
	cmd := append(slices.Clone(c.Command), c.Args...)
	if !slices.Equal(cmd[:2], []string{"nardedup", "ingest"}) {
		t.Errorf("command %q: want nardedup ingest", cmd)
	}
	want := "$(JOB_COMPLETION_INDEX)/" + strconv.Itoa(s.Completions)
	if k := slices.Index(cmd, "--shard"); k < 0 || k+1 == len(cmd) || cmd[k+1] != want {
		t.Errorf("command %q: want --shard %s", cmd, want)
	}
	if k := slices.Index(cmd, "--list"); k < 0 || k+1 == len(cmd) || cmd[k+1] != "/inventory/manifest.json" {
		t.Errorf("command %q: want --list /inventory/manifest.json", cmd)
	}
	if k := slices.Index(cmd, "--repo"); k < 0 || k+1 == len(cmd) || !strings.HasPrefix(cmd[k+1], "s3://") {
		t.Errorf("command %q: want --repo s3://…", cmd)
	}
	if len(c.EnvFrom) == 0 || c.EnvFrom[0].SecretRef.Name == "" {
		t.Errorf("container ingest takes no credentials from a Secret")
	}
	// $(JOB_COMPLETION_INDEX) is expanded only if the container's env
	// names it.
	k := slices.IndexFunc(c.Env, func(e envVar) bool { return e.Name == "JOB_COMPLETION_INDEX" })
	if k < 0 || c.Env[k].ValueFrom.FieldRef.FieldPath != "metadata.annotations['batch.kubernetes.io/job-completion-index']" {
		t.Errorf("env of container ingest: JOB_COMPLETION_INDEX not from the job-completion-index annotation")
	}
}

// Every flag and NARDEDUP_* variable the deployment files name is one
// that nardedup has.
func TestDeployNamesRealFlags(t *testing.T) {
	srcs, err := filepath.Glob("../cmd/nardedup/*.go")
	if err != nil {
		t.Fatal(err)
	}
	var src strings.Builder
	for _, f := range srcs {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		src.Write(data)
	}
	code := src.String()
	variable := regexp.MustCompile(`\bNARDEDUP_[A-Z0-9_]*[A-Z0-9]`)
	flag := regexp.MustCompile(`"--([a-z0-9-]+)"|nardedup (?:serve|gc) (--[a-z0-9-]+)`)
	files := []string{"systemd/nardedup-serve.service", "systemd/nardedup-gc.service", "systemd/nardedup.env",
		"nixos/module.nix", "container/Dockerfile", "README.md"}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range variable.FindAllString(string(data), -1) {
			if !strings.Contains(code, `"`+v+`"`) {
				t.Errorf("%s names %s: no flag has that variable", f, v)
			}
		}
		for _, m := range flag.FindAllStringSubmatch(string(data), -1) {
			name := strings.TrimPrefix(m[1]+m[2], "--")
			declared := regexp.MustCompile(`Name:\s+"` + name + `"`).MatchString(code)
			if !declared && name != "help" {
				t.Errorf("%s names --%s: no command has that flag", f, name)
			}
		}
	}
}
