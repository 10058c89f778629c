package bpe

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// TestLoadMemory checks that a loaded vocabulary retains less than 100 MB of
// heap (not a timing: the bytes a model keeps alive).
func TestLoadMemory(t *testing.T) {
	loaders := map[string]func() (*Loaded, error){
		"cl100k_base": func() (*Loaded, error) { return LoadTiktoken("cl100k_base") },
		"o200k_base":  func() (*Loaded, error) { return LoadTiktoken("o200k_base") },
		"deepseek-llm": func() (*Loaded, error) {
			return loadGGUFVocab(t, "deepseek-llm"), nil
		},
	}
	if _, err := os.Stat(filepath.Join("testdata", "gen", "node_modules")); err == nil || os.Getenv("KRSERVE_NODE_MODULES") != "" {
		loaders["gpt4o tokenizer.json"] = func() (*Loaded, error) { return loadHFFile(t, "tokenizer-gpt4o"), nil }
	}
	for name, load := range loaders {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		l, err := load()
		if err != nil {
			t.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		mb := (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / (1 << 20)
		t.Logf("%s: %.1f MB retained", name, mb)
		if mb > 100 {
			t.Errorf("%s: %.1f MB retained, want < 100", name, mb)
		}
		runtime.KeepAlive(l)
	}
}
