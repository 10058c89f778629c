package tokenizer

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/krserve/krserve/internal/testenv"
)

func readVectors(t *testing.T, path string) ([]string, [][]int32) {
	t.Helper()
	inp, err := os.ReadFile(path + ".inp")
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.ReadFile(path + ".out")
	if err != nil {
		t.Fatal(err)
	}
	texts := strings.Split(string(inp), "\n__ggml_vocab_test__\n")
	texts = texts[:len(texts)-1]
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(texts) {
		t.Fatalf("%s: %d inputs, %d outputs", path, len(texts), len(lines))
	}
	ids := make([][]int32, len(lines))
	for i, l := range lines {
		for _, f := range strings.Fields(l) {
			n, err := strconv.Atoi(f)
			if err != nil {
				t.Fatalf("%s line %d: %v", path, i+1, err)
			}
			ids[i] = append(ids[i], int32(n))
		}
	}
	return texts, ids
}

// unsupportedVocab lists the shared vocabularies this package rejects, and
// why.
var unsupportedVocab = map[string]string{
	"ggml-vocab-bert-bge.gguf": "WordPiece (tokenizer.ggml.model \"bert\"), an encoder vocabulary, not a causal LM one",
}

func load(t testing.TB, spec string) *Tokenizer {
	t.Helper()
	tk, err := Load(spec)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func TestUpstreamVectors(t *testing.T) {
	dir := filepath.Join(testenv.SharedDir(t), "vocab")
	paths, err := filepath.Glob(filepath.Join(dir, "*.gguf"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no vocabularies in %s: %v", dir, err)
	}
	for _, path := range paths {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			tk, err := Load(path)
			if why, ok := unsupportedVocab[name]; ok {
				if !errors.Is(err, ErrUnsupported) {
					t.Fatalf("want ErrUnsupported (%s), got %v", why, err)
				}
				t.Logf("unsupported: %s", why)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			texts, want := readVectors(t, path)
			if len(texts) != 46 {
				t.Fatalf("%d cases, want 46", len(texts))
			}
			pass := 0
			for i, text := range texts {
				got := tk.Encode(text, EncodeOptions{})
				if slices.Equal(got, want[i]) {
					pass++
				} else {
					t.Errorf("case %d %q:\n got %v\nwant %v", i, text, got, want[i])
				}
				if !strings.Contains(text, "▁") && tk.Decode(got) != text {
					t.Errorf("case %d: decode %q, want %q", i, tk.Decode(got), text)
				}
			}
			t.Logf("%s (%s): %d/%d", name, tk.Kind(), pass, len(texts))
		})
	}
}

func TestLlama2CVectors(t *testing.T) {
	data, err := os.ReadFile(testenv.SharedFile(t, "vocab/llama2c-tokenizer-tests.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Cases []struct {
			Text string  `json:"text"`
			IDs  []int32 `json:"ids"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(data, &doc); err != nil || len(doc.Cases) != 5 {
		t.Fatalf("cases: %v (%d)", err, len(doc.Cases))
	}
	for _, spec := range []string{"vocab/llama2c-tokenizer.bin", "vocab/ggml-vocab-llama-spm.gguf"} {
		tk := load(t, testenv.SharedFile(t, spec))
		if !tk.DefaultAddBOS() || tk.BOS() != 1 {
			t.Fatalf("%s: add BOS %v, BOS %d", spec, tk.DefaultAddBOS(), tk.BOS())
		}
		for _, c := range doc.Cases {
			got := tk.Encode(c.Text, EncodeOptions{AddBOS: true})
			if !slices.Equal(got, c.IDs) {
				t.Errorf("%s %q:\n got %v\nwant %v", spec, c.Text, got, c.IDs)
			}
			if d := tk.Decode(got); d != c.Text {
				t.Errorf("%s: decode %q, want %q", spec, d, c.Text)
			}
		}
	}
}

func TestTok512MatchesStoriesGGUF(t *testing.T) {
	bin := load(t, testenv.SharedFile(t, "models/tok512.bin"))
	gg := load(t, testenv.SharedFile(t, "models/stories260K.gguf"))
	for _, text := range corpus(t) {
		// Ordinary text only: the special tokens differ (tok512.bin spells
		// BOS "\n<s>\n", the GGUF file "<s>"), and a literal U+2581 is a
		// space in GGUF but an ordinary character in llama2.c.
		if strings.Contains(text, "▁") {
			continue
		}
		o := EncodeOptions{AddBOS: true}
		if a, b := bin.Encode(text, o), gg.Encode(text, o); !slices.Equal(a, b) {
			t.Fatalf("%.80q: ids differ at %d (tok512.bin %d ids, gguf %d)", text, firstDiff(a, b), len(a), len(b))
		}
	}
}

// corpus is varied real text: the shared READMEs plus hand-picked cases.
func corpus(t testing.TB) []string {
	t.Helper()
	var out []string
	for _, rel := range []string{"models/README.md", "vocab/README.md"} {
		data, err := os.ReadFile(testenv.SharedFile(t, rel))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(data))
		out = append(out, strings.Split(string(data), "\n")...)
	}
	return append(out, "", " ", "\n\n", "Hello <|endoftext|> world", "<s>[INST] hi [/INST]</s>",
		"ünïcödé 日本語 🦙🚀 \t\r\n", "x = {\"a\": [1, 2.5e-3]} // code", strings.Repeat("ab ", 50))
}

func firstDiff(a, b []int32) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
