package config

import (
	"fmt"
	"reflect"
	"strings"
)

// Reference renders the configuration reference (docs/configuration.md)
// from the struct tags of Env and Runtime, so the documentation cannot
// drift from the code.
func Reference() string {
	var b strings.Builder
	b.WriteString("# Configuration reference\n\n")
	b.WriteString("Generated from `config/env.go` and `config/runtime.go` (`go test ./config -run Reference -update` rewrites it).\n\n")
	b.WriteString("## Environment variables\n\nCommand-line flags, where a command has them, override these.\n\n")
	b.WriteString("| variable | default | meaning |\n|---|---|---|\n")
	envRows(&b, reflect.TypeOf(Env{}), EnvPrefix)
	b.WriteString("\n## Runtime file (`config/runtime.yaml`)\n\nEvery key is validated at start; unknown keys are errors. The controller can override the\nflags of one variant live through the `krserve_control` KV bucket.\n\n")
	b.WriteString("| key | default | meaning |\n|---|---|---|\n")
	yamlRows(&b, reflect.TypeOf(Runtime{}), reflect.ValueOf(DefaultRuntime()), "")
	return b.String()
}

func envRows(b *strings.Builder, t reflect.Type, prefix string) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if p, ok := f.Tag.Lookup("envPrefix"); ok {
			envRows(b, f.Type, prefix+p)
			continue
		}
		name := f.Tag.Get("env")
		if name == "" {
			continue
		}
		def := f.Tag.Get("envDefault")
		if def == "" {
			def = "—"
		} else {
			def = "`" + def + "`"
		}
		fmt.Fprintf(b, "| `%s%s` | %s | %s |\n", prefix, name, def, f.Tag.Get("doc"))
	}
}

func yamlRows(b *strings.Builder, t reflect.Type, v reflect.Value, prefix string) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		key := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if key == "" {
			continue
		}
		if f.Type.Kind() == reflect.Struct {
			yamlRows(b, f.Type, v.Field(i), prefix+key+".")
			continue
		}
		fmt.Fprintf(b, "| `%s%s` | `%v` | %s |\n", prefix, key, v.Field(i).Interface(), f.Tag.Get("doc"))
	}
}
