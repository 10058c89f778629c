package spm

import (
	"encoding/json"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/krserve/krserve/engined/gguf"
	"github.com/krserve/krserve/internal/testenv"
)

// readVectors splits X.gguf.inp and X.gguf.out into the 46 upstream cases.
func readVectors(t *testing.T, name string) ([]string, [][]int32) {
	t.Helper()
	inp, err := os.ReadFile(testenv.SharedFile(t, "vocab/"+name+".inp"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.ReadFile(testenv.SharedFile(t, "vocab/"+name+".out"))
	if err != nil {
		t.Fatal(err)
	}
	texts := strings.Split(string(inp), "\n__ggml_vocab_test__\n")
	texts = texts[:len(texts)-1]
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(texts) {
		t.Fatalf("%s: %d inputs, %d outputs", name, len(texts), len(lines))
	}
	ids := make([][]int32, len(lines))
	for i, l := range lines {
		for _, f := range strings.Fields(l) {
			n, err := strconv.Atoi(f)
			if err != nil {
				t.Fatalf("%s line %d: %v", name, i+1, err)
			}
			ids[i] = append(ids[i], int32(n))
		}
	}
	return texts, ids
}

func loadGGUF(t testing.TB, rel string) *Model {
	t.Helper()
	f, err := gguf.Open(testenv.SharedFile(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := LoadGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestUpstreamVectors(t *testing.T) {
	for _, name := range []string{"ggml-vocab-llama-spm.gguf", "ggml-vocab-phi-3.gguf"} {
		t.Run(name, func(t *testing.T) {
			m := loadGGUF(t, "vocab/"+name)
			texts, want := readVectors(t, name)
			if len(texts) != 46 {
				t.Fatalf("%d cases, want 46", len(texts))
			}
			pass := 0
			for i, text := range texts {
				got := m.Encode(nil, text)
				if slices.Equal(got, want[i]) {
					pass++
					continue
				}
				t.Errorf("case %d %q:\n got %v\nwant %v", i, text, got, want[i])
			}
			t.Logf("%s: %d/%d", name, pass, len(texts))
		})
	}
}

type llama2cCase struct {
	Text string  `json:"text"`
	IDs  []int32 `json:"ids"`
}

func readLlama2CCases(t *testing.T) []llama2cCase {
	t.Helper()
	data, err := os.ReadFile(testenv.SharedFile(t, "vocab/llama2c-tokenizer-tests.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Cases []llama2cCase `json:"cases"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Cases) != 5 {
		t.Fatalf("%d cases, want 5", len(doc.Cases))
	}
	return doc.Cases
}

func TestLlama2CVectors(t *testing.T) {
	m, err := LoadLlama2C(testenv.SharedFile(t, "vocab/llama2c-tokenizer.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if m.VocabSize() != 32000 {
		t.Fatalf("vocab size %d, want 32000", m.VocabSize())
	}
	gg := loadGGUF(t, "vocab/ggml-vocab-llama-spm.gguf")
	for _, c := range readLlama2CCases(t) {
		got := m.Encode([]int32{m.BOS()}, c.Text)
		if !slices.Equal(got, c.IDs) {
			t.Errorf("llama2.c %q:\n got %v\nwant %v", c.Text, got, c.IDs)
		}
		// The GGUF export of the same vocabulary must agree.
		if got := gg.Encode([]int32{gg.BOS()}, c.Text); !slices.Equal(got, c.IDs) {
			t.Errorf("gguf %q:\n got %v\nwant %v", c.Text, got, c.IDs)
		}
		if got := m.Decode(c.IDs); got != c.Text {
			t.Errorf("decode %v = %q, want %q", c.IDs, got, c.Text)
		}
	}
}

// sampleTexts is varied text for agreement and round-trip tests.
var sampleTexts = []string{
	"", " ", "  ", "a", "Once upon a time, there was a little girl named Lily.",
	"She loved to play outside in the park.\n\nOne day, she saw a big, red ball.",
	"Lily's mom said, \"Lily, let's go to the park.\"", "\t\ttabs\tand\nnewlines\r\n",
	"ünïcödé and 日本語 and emoji 🦙🚀", "3.14159 2,718 1e10", "<s> not special </s>",
	"\xff\xfe invalid \xe2\x28\xa1 bytes", "    indented code() {\n    }",
}

func TestTok512MatchesStoriesGGUF(t *testing.T) {
	bin, err := LoadLlama2C(testenv.SharedFile(t, "models/tok512.bin"))
	if err != nil {
		t.Fatal(err)
	}
	gg := loadGGUF(t, "models/stories260K.gguf")
	if bin.VocabSize() != 512 || gg.VocabSize() != 512 {
		t.Fatalf("vocab sizes %d and %d, want 512", bin.VocabSize(), gg.VocabSize())
	}
	story, err := os.ReadFile(testenv.SharedFile(t, "models/README.md"))
	if err != nil {
		t.Fatal(err)
	}
	texts := append(slices.Clone(sampleTexts), string(story))
	for _, text := range texts {
		a, b := bin.Encode(nil, text), gg.Encode(nil, text)
		if !slices.Equal(a, b) {
			t.Errorf("%q:\n tok512.bin %v\n gguf       %v", text, a, b)
		}
		if got := bin.Decode(a); got != text {
			t.Errorf("tok512 decode(encode(%q)) = %q", text, got)
		}
		if got := gg.Decode(b); got != text {
			t.Errorf("gguf decode(encode(%q)) = %q", text, got)
		}
	}
}
