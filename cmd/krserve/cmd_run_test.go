package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/krserve/krserve/internal/testenv"
)

func runEngineCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = runMain(context.Background(), &cmdEnv{stdin: strings.NewReader(""), stdout: &out, stderr: &errb}, args)
	return code, out.String(), errb.String()
}

func llama2cGolden(t *testing.T) string {
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "engined/llama/testdata/stories260K_greedy.txt"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func runJSON(t *testing.T, args ...string) runResult {
	t.Helper()
	code, out, errOut := runEngineCLI(t, append([]string{"run", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var r runResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("bad JSON %q: %v", out, err)
	}
	return r
}

func TestRunReproducesLlama2C(t *testing.T) {
	bin, tok := testenv.SharedFile(t, "models/stories260K.bin"), testenv.SharedFile(t, "models/tok512.bin")
	gg := testenv.SharedFile(t, "models/stories260K.gguf")
	want := llama2cGolden(t)
	for _, args := range [][]string{
		{"--model", bin, "--tokenizer", tok},
		{"--model", gg},
		{"--model", gg, "--backend", "reference"},
	} {
		r := runJSON(t, append(args, "--prompt", "", "--max-tokens", "200")...)
		if r.Text != want {
			t.Fatalf("%v: text differs from llama2.c\n got: %q\nwant: %q", args, r.Text, want)
		}
		if len(r.PromptIDs) != 1 || r.PromptIDs[0] != 1 || len(r.IDs) != 200 || r.FinishReason != "length" {
			t.Fatalf("%v: prompt %v, %d ids, finish %q", args, r.PromptIDs, len(r.IDs), r.FinishReason)
		}
		if r.Timings.GeneratedTokens != 200 || r.Timings.DecodeTokensPerS <= 0 {
			t.Fatalf("timings %+v", r.Timings)
		}
	}
	// Unbounded, the checkpoint stops where llama2.c does: at BOS.
	r := runJSON(t, "--model", bin, "--tokenizer", tok, "--max-tokens", "0")
	if len(r.IDs) != 345 || r.FinishReason != "stop" || !strings.HasPrefix(r.Text, want) {
		t.Fatalf("unbounded: %d ids, finish %q", len(r.IDs), r.FinishReason)
	}
}

func TestRunStreamsAndStops(t *testing.T) {
	bin, tok := testenv.SharedFile(t, "models/stories260K.bin"), testenv.SharedFile(t, "models/tok512.bin")
	want := llama2cGolden(t)
	code, out, errOut := runEngineCLI(t, "run", "--model", bin, "--tokenizer", tok, "--max-tokens", "200", "--threads", "1")
	if code != 0 || out != want+"\n" || !strings.Contains(errOut, "finish length") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// A stop string spanning tokens ends the text just before it.
	r := runJSON(t, "--model", bin, "--tokenizer", tok, "--stop", "Lily's mom", "--max-tokens", "200")
	if cut := strings.Index(want, "Lily's mom"); r.Text != want[:cut] || r.FinishReason != "stop" {
		t.Fatalf("stop string: %q finish %q", r.Text, r.FinishReason)
	}
	// A prompt continues the story the way the model's greedy path does.
	r = runJSON(t, "--model", bin, "--tokenizer", tok, "--prompt", "Once upon a time", "--max-tokens", "20")
	if len(r.PromptIDs) < 3 || r.PromptIDs[0] != 1 || !strings.HasPrefix(want, "Once upon a time"+r.Text[:10]) {
		t.Fatalf("prompted: ids %v text %q", r.PromptIDs, r.Text)
	}
}

func TestRunSamplingIsSeeded(t *testing.T) {
	gg := testenv.SharedFile(t, "models/stories260K.gguf")
	args := []string{"--model", gg, "--temperature", "1", "--top-k", "40", "--top-p", "0.9", "--max-tokens", "60"}
	a := runJSON(t, append(args, "--seed", "7")...)
	b := runJSON(t, append(args, "--seed", "7")...)
	c := runJSON(t, append(args, "--seed", "8")...)
	if a.Text != b.Text {
		t.Fatalf("same seed, different text:\n%q\n%q", a.Text, b.Text)
	}
	if a.Text == c.Text {
		t.Fatalf("seeds 7 and 8 gave the same text %q", a.Text)
	}
}

func TestRunUsageErrors(t *testing.T) {
	bin := testenv.SharedFile(t, "models/stories260K.bin")
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"no model", []string{"run", "--prompt", "x"}, 2},
		{"llama2.c without tokenizer", []string{"run", "--model", bin}, 2},
		{"top-p above 1", []string{"run", "--model", bin, "--top-p", "1.5"}, 2},
		{"negative temperature", []string{"run", "--model", bin, "--temperature", "-1"}, 2},
		{"empty stop string", []string{"run", "--model", bin, "--stop", ""}, 2},
		{"bad backend", []string{"run", "--model", bin, "--tokenizer", bin, "--backend", "gpu"}, 1},
		{"missing model file", []string{"run", "--model", filepath.Join(t.TempDir(), "none.gguf")}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, _, errOut := runEngineCLI(t, tc.args...); code != tc.code {
				t.Fatalf("exit %d, want %d (%s)", code, tc.code, errOut)
			}
		})
	}
}
