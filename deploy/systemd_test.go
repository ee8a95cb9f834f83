package deploy

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// unit is a systemd unit file: its settings by section and key, each key
// with its values in order.
type unit map[string]map[string][]string

func readUnit(t *testing.T, path string) unit {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u := make(unit)
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			u[section] = make(map[string][]string)
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: %q is no key=value in a section", path, n, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	return u
}

// last returns the value of a key that systemd uses: the last one given.
func (u unit) last(section, key string) string {
	vs := u[section][key]
	if len(vs) == 0 {
		return ""
	}
	return vs[len(vs)-1]
}

// hardening are settings both services must have, as the README says.
var hardening = map[string]string{
	"DynamicUser":             "yes",
	"StateDirectory":          "nardedup",
	"ProtectSystem":           "strict",
	"ProtectHome":             "yes",
	"PrivateTmp":              "yes",
	"NoNewPrivileges":         "yes",
	"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
	"SystemCallFilter":        "@system-service",
	"CapabilityBoundingSet":   "",
	"EnvironmentFile":         "/etc/nardedup/nardedup.env",
	"Environment":             "NARDEDUP_INDEX_CACHE=/var/lib/nardedup/index",
}

// The serve and gc services are hardened, take their settings from the
// environment file, keep the index cache in their state directory, and
// the timer starts gc.
func TestSystemdUnits(t *testing.T) {
	for name, cmd := range map[string]string{"nardedup-serve.service": "serve", "nardedup-gc.service": "gc"} {
		u := readUnit(t, filepath.Join("systemd", name))
		s := u["Service"]
		for k, want := range hardening {
			if !slices.Contains(s[k], want) {
				t.Errorf("%s: [Service] %s=%q; want one %s=%s", name, k, s[k], k, want)
			}
		}
		exec := strings.Fields(u.last("Service", "ExecStart"))
		if len(exec) < 2 || filepath.Base(exec[0]) != "nardedup" || exec[1] != cmd {
			t.Errorf("%s: ExecStart=%q; want nardedup %s", name, exec, cmd)
		}
	}
	serve := readUnit(t, "systemd/nardedup-serve.service")
	if !slices.Contains(serve["Service"]["Environment"], "NARDEDUP_CACHE_DIR=/var/lib/nardedup/cache") {
		t.Errorf("nardedup-serve.service: the disk cache is not in the state directory")
	}
	if got := serve.last("Install", "WantedBy"); got != "multi-user.target" {
		t.Errorf("nardedup-serve.service: WantedBy=%s; want multi-user.target", got)
	}
	if got := readUnit(t, "systemd/nardedup-gc.service").last("Service", "Type"); got != "oneshot" {
		t.Errorf("nardedup-gc.service: Type=%s; want oneshot", got)
	}
	timer := readUnit(t, "systemd/nardedup-gc.timer")
	if timer.last("Timer", "OnCalendar") == "" || timer.last("Install", "WantedBy") != "timers.target" {
		t.Errorf("nardedup-gc.timer: OnCalendar=%q, WantedBy=%q; want a calendar and timers.target",
			timer.last("Timer", "OnCalendar"), timer.last("Install", "WantedBy"))
	}
	if u := timer.last("Timer", "Unit"); u != "" && u != "nardedup-gc.service" {
		t.Errorf("nardedup-gc.timer starts %s; want nardedup-gc.service", u)
	}
}

// systemd-analyze accepts the units without a warning. It checks that
// ExecStart's program exists, so the copies it reads run true instead.
func TestSystemdAnalyzeVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not found (Debian package systemd): units not verified")
	}
	standIn, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true program to stand in for nardedup")
	}
	dir := t.TempDir()
	files, err := filepath.Glob("systemd/nardedup-*")
	if err != nil || len(files) < 3 {
		t.Fatalf("units %v (%v); want serve, gc and its timer", files, err)
	}
	var paths []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.Base(f))
		if err := os.WriteFile(p, bytes.ReplaceAll(data, []byte("/usr/local/bin/nardedup"), []byte(standIn)), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	out, err := exec.Command(analyze, append([]string{"verify", "--man=no"}, paths...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "nardedup") {
			t.Errorf("systemd-analyze verify: %s", line)
		}
	}
}
