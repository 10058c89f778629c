package schemas

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
)

// jsonSchemaFiles maps each top-level message to its JSON Schema file.
var jsonSchemaFiles = map[string]Message{
	"generate_request":    &GenerateRequest{},
	"stream_msg":          &StreamMsg{},
	"error":               &Error{},
	"cancel":              &Cancel{},
	"engine_request":      &EngineRequest{},
	"kv_events":           &KVEvents{},
	"heartbeat":           &Heartbeat{},
	"metric_event":        &MetricEvent{},
	"job":                 &Job{},
	"job_result":          &JobResult{},
	"tokenize_request":    &TokenizeRequest{},
	"tokenize_response":   &TokenizeResponse{},
	"detokenize_request":  &DetokenizeRequest{},
	"detokenize_response": &DetokenizeResponse{},
}

func schemaOf(rt reflect.Type) map[string]any {
	for rt.Kind() == reflect.Pointer {
		rt = rt.Elem()
	}
	switch rt.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return map[string]any{"type": "integer"}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer", "minimum": 0}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": schemaOf(rt.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": schemaOf(rt.Elem())}
	case reflect.Struct:
		props := map[string]any{}
		var required []string
		for i := 0; i < rt.NumField(); i++ {
			f := rt.Field(i)
			parts := strings.Split(f.Tag.Get("msgpack"), ",")
			if parts[0] == "" || parts[0] == "-" {
				continue
			}
			props[parts[0]] = schemaOf(f.Type)
			if len(parts) == 1 {
				required = append(required, parts[0])
			}
		}
		s := map[string]any{"type": "object", "properties": props, "additionalProperties": true}
		if len(required) > 0 {
			s["required"] = required
		}
		return s
	}
	return map[string]any{}
}

// TestJSONSchemaFiles keeps schemas/*.schema.json in step with the Go types
// (regenerate with KRSERVE_UPDATE_GOLDEN=1). The files describe shapes; the
// value ranges are in docs/wire.md and enforced by the decoders.
func TestJSONSchemaFiles(t *testing.T) {
	for name, m := range jsonSchemaFiles {
		s := schemaOf(reflect.TypeOf(m))
		s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
		s["$id"] = "https://krserve.dev/schemas/v1/" + name + ".schema.json"
		s["title"] = reflect.TypeOf(m).Elem().Name() + " (krserve wire v1, msgpack)"
		got, err := json.MarshalIndent(s, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, '\n')
		path := name + ".schema.json"
		if os.Getenv("KRSERVE_UPDATE_GOLDEN") != "" {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (KRSERVE_UPDATE_GOLDEN=1 creates it)", err)
		}
		if string(got) != string(want) {
			t.Errorf("%s is out of date with the Go types; regenerate with KRSERVE_UPDATE_GOLDEN=1", path)
		}
	}
}
