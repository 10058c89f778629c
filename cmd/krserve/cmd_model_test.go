package main

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/krserve/krserve/internal/testenv"
)

func TestModelSynthInspectRun(t *testing.T) {
	out := filepath.Join(t.TempDir(), "tiny.gguf")
	vocab := testenv.SharedFile(t, "vocab/ggml-vocab-llama-spm.gguf")
	code, _, errOut := runEngineCLI(t, "model", "synth", "--preset", "stories260k", "--type", "q8_0", "--vocab", vocab, "-o", out)
	if code != 0 || !strings.Contains(errOut, "100%") {
		t.Fatalf("synth exit %d: %s", code, errOut)
	}
	code, js, errOut := runEngineCLI(t, "model", "inspect", out, "--json")
	if code != 0 {
		t.Fatalf("inspect exit %d: %s", code, errOut)
	}
	var o inspectOut
	if err := json.Unmarshal([]byte(js), &o); err != nil {
		t.Fatal(err)
	}
	meta := map[string]inspectKV{}
	for _, kv := range o.Metadata {
		meta[kv.Key] = kv
	}
	if meta["general.architecture"].Value != "llama" || meta["tokenizer.ggml.tokens"].Type != "array[string; 32000]" {
		t.Fatalf("metadata: %+v / %+v", meta["general.architecture"], meta["tokenizer.ggml.tokens"])
	}
	if len(o.Tensors) != 47 || o.Tensors[0].Name != "token_embd.weight" || o.Tensors[0].Type != "Q8_0" {
		t.Fatalf("%d tensors, first %+v", len(o.Tensors), o.Tensors[0])
	}
	code, text, _ := runEngineCLI(t, "model", "inspect", out)
	if code != 0 || !strings.Contains(text, "blk.4.ffn_down.weight") || !strings.Contains(text, "count") && !strings.Contains(text, "…") {
		t.Fatalf("inspect text exit %d:\n%s", code, text)
	}
	r := runJSON(t, "--model", out, "--prompt", "Hello world", "--max-tokens", "8")
	if len(r.IDs) == 0 || r.PromptIDs[0] != 1 {
		t.Fatalf("run on synthesized model: %+v", r)
	}
	for _, args := range [][]string{
		{"model"}, {"model", "bake"}, {"model", "synth", "-o", out},
		{"model", "synth", "--preset", "huge", "--vocab", vocab, "-o", out},
		{"model", "synth", "--type", "q6_k", "--vocab", vocab, "-o", out},
		{"model", "inspect"},
	} {
		if code, _, _ := runEngineCLI(t, args...); code != 2 {
			t.Fatalf("%v: exit %d, want 2", args, code)
		}
	}
}

func TestBenchEngineJSON(t *testing.T) {
	code, out, errOut := runEngineCLI(t, "bench", "engine", "--model", testenv.SharedFile(t, "models/stories260K.gguf"),
		"--threads", "1", "--prompt-tokens", "16", "--decode-tokens", "16", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"prompt_tokens_per_s", "decode_tokens_per_s"} {
		if v, ok := r[k].(float64); !ok || v <= 0 {
			t.Fatalf("%s = %v", k, r[k])
		}
	}
	if r["threads"].(float64) != 1 || !strings.HasSuffix(r["model"].(string), "stories260K.gguf") {
		t.Fatalf("result %v", r)
	}
	if code, _, _ := runEngineCLI(t, "bench", "engine", "--model", testenv.SharedFile(t, "models/stories260K.gguf"), "--prompt-tokens", "600"); code != 2 {
		t.Fatalf("prompt past context: exit %d", code)
	}
}

var updateInspectGolden = flag.Bool("update-inspect", false, "rewrite testdata/inspect_stories260K.txt")

// The text form of `model inspect` on the shared stories260K.gguf is
// compared with a golden file (the path is replaced by its base name).
func TestModelInspectGolden(t *testing.T) {
	path := testenv.SharedFile(t, "models/stories260K.gguf")
	code, out, errOut := runEngineCLI(t, "model", "inspect", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	out = strings.ReplaceAll(out, path, "stories260K.gguf")
	golden := filepath.Join("testdata", "inspect_stories260K.txt")
	if *updateInspectGolden {
		if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if out != string(want) {
		t.Fatalf("inspect output differs from %s (-got +want):\n-%s\n+%s", golden, out, want)
	}
}
