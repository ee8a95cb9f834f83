package main

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"
	"go.yaml.in/yaml/v3"
)

// configFlag returns --config of a command: a new one each time, as a
// flag records in itself whether its environment variable was set.
func configFlag() cli.Flag {
	return &cli.StringFlag{
		Name:    "config",
		Usage:   "read flags from `FILE`, TOML (.toml) or YAML (.yaml, .yml), keys named as the flags; the command line and the environment override it",
		EnvVars: []string{"NARDEDUP_CONFIG"},
	}
}

// withConfig gives every command --config: the command's flags take the
// values the file gives them unless the command line or their environment
// variable sets them. A key of the file must be a flag of some command (so
// that one file can serve serve and gc alike, as an environment file does),
// else it is an error: a misspelt key would otherwise be ignored silently.
//
// urfave/cli checks required flags before a command's Before runs, so a
// required flag given only in the file would be refused; withConfig turns
// Required off and checks the flag after the file is applied.
func withConfig(cmds []*cli.Command) []*cli.Command {
	flags := make(map[string]cli.Flag)
	for _, cmd := range cmds {
		for _, f := range cmd.Flags {
			for _, n := range f.Names() {
				flags[n] = f
			}
		}
	}
	for _, cmd := range cmds {
		var required []string
		wrapped := make([]cli.Flag, 0, len(cmd.Flags)+1)
		for _, f := range cmd.Flags {
			af, req := fromConfig(f)
			if req {
				required = append(required, f.Names()[0])
			}
			wrapped = append(wrapped, af)
		}
		cmd.Flags = append(wrapped, configFlag())
		cmd.Before = func(c *cli.Context) error {
			if err := applyConfig(c, flags); err != nil {
				return err
			}
			for _, name := range required {
				if !c.IsSet(name) {
					return fmt.Errorf("--%s is not set: give it on the command line, in %s, or in --config", name, flagEnvVar(c, name))
				}
			}
			return nil
		}
	}
	return cmds
}

// fromConfig returns f as a flag that takes its value from an altsrc input
// source, with Required turned off, and whether f was required.
func fromConfig(f cli.Flag) (cli.Flag, bool) {
	switch f := f.(type) {
	case *cli.StringFlag:
		g := *f
		g.Required = false
		return altsrc.NewStringFlag(&g), f.Required
	case *cli.IntFlag:
		g := *f
		g.Required = false
		return altsrc.NewIntFlag(&g), f.Required
	case *cli.IntSliceFlag:
		g := *f
		g.Required = false
		return altsrc.NewIntSliceFlag(&g), f.Required
	case *cli.StringSliceFlag:
		g := *f
		g.Required = false
		return altsrc.NewStringSliceFlag(&g), f.Required
	case *cli.Float64Flag:
		g := *f
		g.Required = false
		return altsrc.NewFloat64Flag(&g), f.Required
	case *cli.DurationFlag:
		g := *f
		g.Required = false
		return altsrc.NewDurationFlag(&g), f.Required
	case *cli.BoolFlag:
		g := *f
		g.Required = false
		return altsrc.NewBoolFlag(&g), f.Required
	}
	panic(fmt.Sprintf("--%s: flag type %T cannot be read from --config", f.Names()[0], f))
}

// applyConfig sets the command's flags from --config, if given. flags are
// the flags of every command by name, to tell a key of another command
// from an unknown one.
func applyConfig(c *cli.Context, flags map[string]cli.Flag) error {
	file := c.String("config")
	if file == "" {
		if c.IsSet("config") {
			return fmt.Errorf("--config is set but empty (check %s): give a FILE, or leave it unset", flagEnvVar(c, "config"))
		}
		return nil
	}
	values, err := readConfig(file)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	m := make(map[any]any, len(values))
	for _, k := range slices.Sorted(maps.Keys(values)) {
		f, ok := flags[k]
		if !ok {
			return fmt.Errorf("--config: %s: unknown key %q: no nardedup command has a flag --%s", file, k, k)
		}
		m[k] = configValue(f, values[k])
	}
	if err := altsrc.ApplyInputSourceValues(c, altsrc.NewMapInputSource(file, m), c.Command.Flags); err != nil {
		return fmt.Errorf("--config: %s: %w", file, err)
	}
	return nil
}

// readConfig reads the keys and values of a TOML or YAML file.
func readConfig(file string) (map[string]any, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var values map[string]any
	switch strings.ToLower(filepath.Ext(file)) {
	case ".toml":
		err = toml.Unmarshal(data, &values)
	case ".yaml", ".yml":
		err = yaml.Unmarshal(data, &values)
	default:
		return nil, fmt.Errorf("%s: want a .toml, .yaml or .yml file", file)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return values, nil
}

// configValue converts v, as TOML or YAML decoded it, to the type altsrc
// expects of flag f: TOML's int64 to int, a whole number to a float64 for
// a Float64Flag, a number to a string for a StringFlag (frame-cache = 0).
// Anything else is left for altsrc to refuse, naming the flag.
func configValue(f cli.Flag, v any) any {
	switch v := v.(type) {
	case int64:
		return configValue(f, int(v))
	case int:
		switch f.(type) {
		case *cli.Float64Flag:
			return float64(v)
		case *cli.StringFlag:
			return fmt.Sprint(v)
		}
	case float64:
		if _, ok := f.(*cli.StringFlag); ok {
			return fmt.Sprint(v)
		}
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			if n, ok := e.(int64); ok {
				e = int(n)
			}
			out[i] = e
		}
		return out
	}
	return v
}
