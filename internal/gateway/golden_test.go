package gateway

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

var (
	uuidRe   = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	timingRe = regexp.MustCompile(`"(ttft|total|queue|prefill)_ms":[0-9.e+-]+`)
)

// TestStreamGolden pins the exact bytes of a streamed chat completion
// (greedy on stories260K; request ids and timings normalized).
func TestStreamGolden(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	resp := h.post(t, "/v1/chat/completions", map[string]any{"model": modelName, "messages": story, "temperature": 0, "max_tokens": 6,
		"stream": true, "stream_options": map[string]any{"include_usage": true}})
	got := strings.Join(events(t, resp.Body), "\n") + "\n"
	got = uuidRe.ReplaceAllString(got, "ID")
	got = timingRe.ReplaceAllString(got, `"${1}_ms":0`)
	path := filepath.Join("testdata", "chat_stream.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("stream differs from %s (-got +want):\n-%s\n+%s", path, got, want)
	}
}
