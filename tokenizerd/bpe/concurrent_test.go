package bpe

import (
	"slices"
	"strings"
	"sync"
	"testing"
)

// TestConcurrentEncode encodes from many goroutines at once (run with -race):
// every result must equal the sequential one, including long pieces that
// share pooled buffers and merge-table vocabularies that fill the per-token
// memo concurrently.
func TestConcurrentEncode(t *testing.T) {
	texts := []string{strings.Repeat("a", 9000), pathological("random-letters", 7000), pathological("han", 6000)}
	for _, c := range readGolden(t, "cl100k_base.jsonl") {
		texts = append(texts, c.Text)
	}
	models := []*Model{tiktoken(t, "cl100k_base").Model, loadGGUFVocab(t, "gpt-2").Model}
	for _, m := range models {
		want := make([][]int32, len(texts))
		for i, s := range texts {
			want[i] = m.Encode(nil, s)
		}
		// A fresh model, so the goroutines race to fill the memo.
		if m.merges != nil {
			m = loadGGUFVocab(t, "gpt-2").Model
		}
		var wg sync.WaitGroup
		errs := make(chan string, 8)
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var dst []int32
				for k := 0; k < len(texts); k++ {
					i := (k*7 + g) % len(texts)
					dst = m.Encode(dst[:0], texts[i])
					if !slices.Equal(dst, want[i]) {
						errs <- texts[i]
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for s := range errs {
			t.Errorf("%s: concurrent Encode(%.40q) differs", m.Pretokenizer(), s)
		}
	}
}

// TestSafeSplit checks, for every pre-tokenizer, that encoding the parts at
// SafeSplit cuts equals encoding the whole, on prose, code and the goldens.
func TestSafeSplit(t *testing.T) {
	var texts []string
	for _, c := range readGolden(t, "cl100k_base.jsonl") {
		texts = append(texts, c.Text)
	}
	joined := strings.Join(texts, " glue ")
	texts = append(texts, joined)
	models := fuzzModels(t)
	for _, m := range models {
		cuts := 0
		for _, s := range texts {
			for _, near := range []int{0, 1, len(s) / 3, len(s) / 2, len(s) - 2, len(s) + 5} {
				cut := m.SafeSplit(s, near)
				if cut == -1 {
					continue
				}
				if cut <= 0 || cut >= len(s) {
					t.Fatalf("%s: SafeSplit = %d for length %d", m.Pretokenizer(), cut, len(s))
				}
				cuts++
				if got, want := m.Encode(m.Encode(nil, s[:cut]), s[cut:]), m.Encode(nil, s); !slices.Equal(got, want) {
					t.Errorf("%s: cut %d of %.60q is not exact", m.Pretokenizer(), cut, s)
				}
			}
		}
		// Many cuts through one long text, as chunk-parallel encoding does.
		var parts []int32
		rest := joined
		for len(rest) > 200 {
			cut := m.SafeSplit(rest, 150)
			if cut < 0 {
				break
			}
			parts = m.Encode(parts, rest[:cut])
			rest = rest[cut:]
		}
		parts = m.Encode(parts, rest)
		if !slices.Equal(parts, m.Encode(nil, joined)) {
			t.Errorf("%s: chunked encoding differs", m.Pretokenizer())
		}
		if cuts == 0 {
			t.Errorf("%s: no cuts found", m.Pretokenizer())
		}
	}
	if cut := models[0].SafeSplit("一二三四五六七八九十", 5); cut != -1 {
		t.Errorf("SafeSplit on Han text = %d, want -1", cut)
	}
}

// TestEncodeNoAllocs: with room in dst, Encode allocates nothing, for short
// pieces, long pieces (pooled buffers) and merge-table vocabularies.
func TestEncodeNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops buffers on purpose under the race detector")
	}
	texts := map[string]string{
		"prose": "In the beginning God created the heaven and the earth. It's 2024, isn't it?",
		"long":  pathological("random-letters", 20000),
		"han":   pathological("han", 3000),
	}
	for _, m := range []*Model{tiktoken(t, "cl100k_base").Model, tiktoken(t, "o200k_base").Model, loadGGUFVocab(t, "deepseek-llm").Model} {
		for name, text := range texts {
			dst := make([]int32, 0, len(text))
			dst = m.Encode(dst, text) // warm the pool and the memo
			if n := testing.AllocsPerRun(20, func() { dst = m.Encode(dst[:0], text) }); n != 0 {
				t.Errorf("%s %s: %.1f allocations per Encode", m.Pretokenizer(), name, n)
			}
		}
	}
}
