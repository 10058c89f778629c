package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/krserve/krserve/internal/testenv"
)

func runTok(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb syncBuffer
	code := runMain(context.Background(), &cmdEnv{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb}, args)
	return code, out.String(), errb.String()
}

func TestTokenizeCLI(t *testing.T) {
	tok512 := testenv.SharedFile(t, "models/tok512.bin")
	llama := testenv.SharedFile(t, "vocab/llama2c-tokenizer.bin")
	cases := []struct {
		name  string
		stdin string
		args  []string
		want  string
	}{
		{"cl100k special all", `{"text": "Hello <|endoftext|> world"}` + "\n" + `{"text": ""}` + "\n",
			[]string{"tokenize", "--vocab", "cl100k_base", "--special", "all"}, "{\"ids\":[9906,220,100257,1917]}\n{\"ids\":[]}\n"},
		{"cl100k special none", `{"text": "<|endoftext|>"}`,
			[]string{"tokenize", "--vocab", "cl100k_base"}, "{\"ids\":[27,91,8862,728,428,91,29]}\n"},
		{"llama2c with bos", `{"text": "I believe the meaning of life is"}` + "\n\n",
			[]string{"tokenize", "--vocab", llama, "--bos"}, "{\"ids\":[1,306,4658,278,6593,310,2834,338]}\n"},
		{"detokenize", `{"ids": [1,306,4658,278,6593,310,2834,338]}` + "\n" + `{"ids": []}`,
			[]string{"detokenize", "--vocab", llama}, "{\"text\":\"I believe the meaning of life is\"}\n{\"text\":\"\"}\n"},
		{"detokenize special text", `{"ids": [100257, 27]}`,
			[]string{"detokenize", "--vocab", "cl100k_base"}, "{\"text\":\"<|endoftext|><\"}\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errs := runTok(t, c.stdin, c.args...)
			if code != 0 || out != c.want {
				t.Fatalf("exit %d stderr %q\n-got  %q\n+want %q", code, errs, out, c.want)
			}
		})
	}

	// --threads N gives the same lines in the same order.
	var in strings.Builder
	story, err := os.ReadFile(testenv.SharedFile(t, "models/README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(story), "\n") {
		b, _ := json.Marshal(map[string]string{"text": line})
		in.Write(b)
		in.WriteByte('\n')
	}
	_, one, _ := runTok(t, in.String(), "tokenize", "--vocab", tok512)
	code, four, errs := runTok(t, in.String(), "tokenize", "--vocab", tok512, "--threads", "4")
	if code != 0 || one != four || strings.Count(one, "\n") < 50 {
		t.Fatalf("threads 4: exit %d %s, %d vs %d bytes", code, errs, len(four), len(one))
	}
}

func TestTokenizeCLIErrors(t *testing.T) {
	cases := []struct {
		name   string
		stdin  string
		args   []string
		code   int
		stderr string
		stdout string
	}{
		{"bad json", "{\"text\": \"ok\"}\n{\"text\": \n", []string{"tokenize", "--vocab", "cl100k_base"}, 1, "line 2", "{\"ids\":[564]}\n"},
		{"missing text", "{\"txt\": \"a\"}\n", []string{"tokenize", "--vocab", "cl100k_base", "--threads", "2"}, 1, "line 1: no \"text\"", ""},
		{"no vocab", "", []string{"tokenize"}, 2, "--vocab is required", ""},
		{"bad special", "", []string{"tokenize", "--vocab", "cl100k_base", "--special", "some"}, 2, "--special", ""},
		{"unknown vocab", "", []string{"tokenize", "--vocab", "nope_base"}, 1, "nope_base", ""},
		{"id out of range", "{\"ids\": [1, 999999]}\n", []string{"detokenize", "--vocab", "cl100k_base"}, 1, "line 1: id 999999 out of range", ""},
		{"detok bad line", "{\"ids\": [1]}\n[]\n", []string{"detokenize", "--vocab", "cl100k_base"}, 1, "line 2", "{\"text\":\"\\\"\"}\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errs := runTok(t, c.stdin, c.args...)
			if code != c.code || !strings.Contains(errs, c.stderr) || out != c.stdout {
				t.Fatalf("exit %d (want %d), stdout %q (want %q), stderr %q (want it to contain %q)", code, c.code, out, c.stdout, errs, c.stderr)
			}
		})
	}
}

func TestBenchTokenizerJSON(t *testing.T) {
	corpus := filepath.Join(t.TempDir(), "corpus.jsonl")
	if err := os.WriteFile(corpus, []byte("{\"text\": \"In the beginning God created the heaven and the earth.\"}\n{\"text\": \"And the earth was without form, and void.\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runTok(t, "", "bench", "tokenizer", "--vocab", "cl100k_base", "--corpus", corpus, "--threads", "2", "--json", "--time", "1ms")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	for _, k := range []string{"vocab", "bytes", "tokens", "single_mb_s", "batch_mb_s", "threads"} {
		if _, ok := res[k]; !ok {
			t.Fatalf("key %q missing in %s", k, out)
		}
	}
	if res["vocab"] != "cl100k_base" || res["bytes"].(float64) != 95 || res["threads"].(float64) != 2 || res["single_mb_s"].(float64) <= 0 {
		t.Fatalf("bad values: %s", out)
	}
	if p, ok := res["pathological_ms"].(map[string]any); !ok || len(p) != 4 {
		t.Fatalf("pathological_ms: %s", out)
	}
}
