package deploy

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// The NixOS module parses.
func TestNixOSModuleParses(t *testing.T) {
	nix, err := exec.LookPath("nix-instantiate")
	if err != nil {
		t.Skip("nix-instantiate not found (Debian package nix-bin): module not parsed")
	}
	if out, err := exec.Command(nix, "--parse", "nixos/module.nix").CombinedOutput(); err != nil {
		t.Fatalf("nix-instantiate --parse nixos/module.nix: %v\n%s", err, out)
	}
}

// The NixOS module has the options the README names, and says how to use
// it from a flake.
func TestNixOSModuleOptions(t *testing.T) {
	data, err := os.ReadFile("nixos/module.nix")
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	if !strings.Contains(text, "options.services.nardedup = {") {
		t.Fatal("nixos/module.nix declares no options.services.nardedup")
	}
	for _, opt := range []string{"enable", "package", "repo", "listen", "authTokenFile", "basicAuthFile", "environmentFile", "settings", "gc",
		"uploadTokenFile", "uploadBasicAuthFile", "signKeyFile", "uploadRequireSigs", "maxUploadSize", "minRate", "minRateWindow",
		"narinfoMaxAge", "negativeMaxAge", "metricsListen", "logFormat", "logLevel"} {
		if !regexp.MustCompile(`(?m)^    ` + opt + ` = `).MatchString(text) {
			t.Errorf("nixos/module.nix: no option services.nardedup.%s", opt)
		}
	}
	// Secrets are files handed over as systemd credentials, never
	// values in the world-readable store.
	for _, opt := range []string{"authTokenFile", "basicAuthFile", "uploadTokenFile", "uploadBasicAuthFile", "signKeyFile"} {
		if !strings.Contains(text, "value = cfg."+opt+";") {
			t.Errorf("nixos/module.nix: %s is not read as a systemd credential", opt)
		}
	}
	if !strings.Contains(text, "flake") {
		t.Error("nixos/module.nix does not say how to use it from a flake")
	}
}
