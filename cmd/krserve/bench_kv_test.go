package main

import (
	"context"
	"encoding/json"
	"io"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/krserve/krserve/engined/llama"
	"github.com/krserve/krserve/internal/testenv"
	"github.com/krserve/krserve/tokenizerd/tokenizer"
)

// jsonShape lists the key paths of a JSON document ("turns[].turn"), so a
// test can pin the exact shape of a --json output.
func jsonShape(t *testing.T, doc string) []string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		t.Fatalf("bad JSON %q: %v", doc, err)
	}
	seen := map[string]bool{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				p := k
				if prefix != "" {
					p = prefix + "." + k
				}
				seen[p] = true
				walk(p, e)
			}
		case []any:
			for _, e := range x {
				walk(prefix+"[]", e)
			}
		}
	}
	walk("", v)
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func checkShape(t *testing.T, doc string, want ...string) {
	t.Helper()
	sort.Strings(want)
	if got := jsonShape(t, doc); !slices.Equal(got, want) {
		t.Fatalf("JSON shape changed:\n got %v\nwant %v\n(%s)", got, want, doc)
	}
}

func TestBenchKV(t *testing.T) {
	gg := testenv.SharedFile(t, "models/stories260K.gguf")
	code, out, errOut := run(t, "", "bench", "kv", "--model", gg, "--turns", "3", "--history", "120", "--reply-tokens", "8", "--reps", "1", "--threads", "1", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	checkShape(t, out, "turns", "turns[].turn", "turns[].prompt_tokens", "turns[].cached_tokens", "turns[].ttft_ms_pool", "turns[].ttft_ms_nopool")
	if !strings.Contains(errOut, "bench kv [") {
		t.Errorf("no progress on stderr: %q", errOut)
	}
	var r kvBench
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Turns) != 3 {
		t.Fatalf("%d turns, want 3", len(r.Turns))
	}
	for i, tr := range r.Turns {
		if tr.Turn != i+1 || tr.TTFTMsPool <= 0 || tr.TTFTMsNoPool <= 0 {
			t.Errorf("turn %d: %+v", i+1, tr)
		}
		if i > 0 && tr.PromptTokens <= r.Turns[i-1].PromptTokens {
			t.Errorf("history does not grow: %+v after %+v", tr, r.Turns[i-1])
		}
		// Turn 1 starts cold; later turns reuse the previous prompt and
		// reply (whole blocks), never the whole prompt.
		if (i == 0) != (tr.CachedTokens == 0) || tr.CachedTokens >= tr.PromptTokens {
			t.Errorf("turn %d: cached %d of %d prompt tokens", i+1, tr.CachedTokens, tr.PromptTokens)
		}
		if i > 0 && tr.CachedTokens < r.Turns[i-1].PromptTokens-16 {
			t.Errorf("turn %d cached %d tokens, the previous prompt alone had %d", i+1, tr.CachedTokens, r.Turns[i-1].PromptTokens)
		}
	}
	if last := r.Turns[2].PromptTokens; last > 120 || last < 117 {
		t.Errorf("last prompt %d tokens, want about --history 120", last)
	}
}

func TestBenchKVWithoutPoolReusesNothing(t *testing.T) {
	gg := testenv.SharedFile(t, "models/stories260K.gguf")
	m, err := llama.Load(gg, llama.WithBackend(llama.BackendNative, 1))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tok, err := tokenizer.Load(gg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := measureKV(context.Background(), io.Discard, m, tok, "stories260K", kvOptions{turns: 4, history: 200, reply: 4, reps: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range r.Turns {
		if tr.cachedNoPool != 0 {
			t.Errorf("turn %d: the disabled pool reused %d tokens", tr.Turn, tr.cachedNoPool)
		}
		if tr.Turn > 1 && tr.CachedTokens == 0 {
			t.Errorf("turn %d: the pool reused nothing", tr.Turn)
		}
	}
}

func TestBenchKVUsage(t *testing.T) {
	gg := testenv.SharedFile(t, "models/stories260K.gguf")
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"history beyond the context", []string{"--history", "600"}},
		{"no turns", []string{"--turns", "0"}},
		{"history too short for the turns", []string{"--turns", "5", "--history", "40", "--reply-tokens", "10"}},
		{"no model", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"bench", "kv"}, tc.args...)
			if tc.args != nil {
				args = append(args, "--model", gg)
			}
			if code, _, errOut := run(t, "", args...); code != 2 {
				t.Fatalf("exit %d, want 2 (%s)", code, errOut)
			}
		})
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		if got := median(slices.Clone(tc.in)); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
