package config

import (
	"flag"
	"os"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/configuration.md")

// TestReferenceMatchesDocs fails when docs/configuration.md and the config
// structs disagree.
func TestReferenceMatchesDocs(t *testing.T) {
	const path = "../docs/configuration.md"
	got := Reference()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("%s is out of date with the config structs; run go test ./config -run Reference -update", path)
	}
}

// TestEveryKnobDocumented: every env variable and YAML key carries a doc tag.
func TestEveryKnobDocumented(t *testing.T) {
	var walk func(rt reflect.Type, path string)
	walk = func(rt reflect.Type, path string) {
		for i := 0; i < rt.NumField(); i++ {
			f := rt.Field(i)
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type, path+f.Name+".")
				continue
			}
			if f.Tag.Get("env") == "" && f.Tag.Get("yaml") == "" {
				continue
			}
			if strings.TrimSpace(f.Tag.Get("doc")) == "" {
				t.Errorf("%s%s has no doc tag", path, f.Name)
			}
		}
	}
	walk(reflect.TypeOf(Env{}), "Env.")
	walk(reflect.TypeOf(Runtime{}), "Runtime.")
}
