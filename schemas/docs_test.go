package schemas

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// TestWireDocCoversEveryField fails when a message field is missing from
// docs/wire.md, so the documentation cannot fall behind the code.
func TestWireDocCoversEveryField(t *testing.T) {
	doc, err := os.ReadFile("../docs/wire.md")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[reflect.Type]bool{}
	var walk func(rt reflect.Type)
	walk = func(rt reflect.Type) {
		for rt.Kind() == reflect.Pointer || rt.Kind() == reflect.Slice || rt.Kind() == reflect.Map {
			rt = rt.Elem()
		}
		if rt.Kind() != reflect.Struct || seen[rt] {
			return
		}
		seen[rt] = true
		for i := 0; i < rt.NumField(); i++ {
			f := rt.Field(i)
			name := strings.Split(f.Tag.Get("msgpack"), ",")[0]
			if name == "" || name == "-" {
				continue
			}
			if !strings.Contains(string(doc), "`"+name+"`") {
				t.Errorf("%s.%s (%q) is not documented in docs/wire.md", rt.Name(), f.Name, name)
			}
			walk(f.Type)
		}
	}
	for _, s := range samples() {
		walk(reflect.TypeOf(s.msg))
	}
}
