package bpe

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/krserve/krserve/engined/gguf"
	"github.com/krserve/krserve/internal/testenv"
)

// ggufVocabs are the byte-level BPE vocabularies of ../shared/vocab.
var ggufVocabs = []struct {
	name string
	pre  Pretokenizer
}{
	{"gpt-2", PreGPT2},
	{"deepseek-llm", PreDeepseekLLM},
	{"deepseek-coder", PreDeepseekCoder},
	{"falcon", PreFalcon},
	{"mpt", PreMPT},
	{"starcoder", PreStarcoder},
	{"refact", PreRefact},
}

func loadGGUFVocab(t testing.TB, name string) *Loaded {
	t.Helper()
	f, err := gguf.Open(testenv.SharedFile(t, "vocab/ggml-vocab-"+name+".gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l, err := LoadGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// readVectors reads llama.cpp's X.gguf.inp / X.gguf.out test vectors.
func readVectors(t testing.TB, name string) []goldenCase {
	t.Helper()
	inp, err := os.ReadFile(testenv.SharedFile(t, "vocab/ggml-vocab-"+name+".gguf.inp"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.ReadFile(testenv.SharedFile(t, "vocab/ggml-vocab-"+name+".gguf.out"))
	if err != nil {
		t.Fatal(err)
	}
	texts := strings.Split(string(inp), "\n__ggml_vocab_test__\n")
	texts = texts[:len(texts)-1]
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(texts) != 46 || len(lines) != 46 {
		t.Fatalf("%s: %d texts, %d id lines, want 46", name, len(texts), len(lines))
	}
	cases := make([]goldenCase, len(texts))
	for i, text := range texts {
		ids := []int32{}
		for _, f := range strings.Fields(lines[i]) {
			n, err := strconv.Atoi(f)
			if err != nil {
				t.Fatalf("%s line %d: %v", name, i+1, err)
			}
			ids = append(ids, int32(n))
		}
		cases[i] = goldenCase{Text: text, IDs: ids}
	}
	return cases
}

// encodeWithAdded encodes text as the reference tokenizers do with special
// parsing off: user-defined added tokens are still matched (leftmost, then
// longest), the rest is ordinary text.
func encodeWithAdded(l *Loaded, dst []int32, text string) []int32 {
	var added []Special
	for _, s := range l.Specials {
		if s.UserDefined && s.Text != "" {
			added = append(added, s)
		}
	}
	start := 0
	for i := 0; i < len(text); {
		best := -1
		for k, s := range added {
			if strings.HasPrefix(text[i:], s.Text) && (best < 0 || len(s.Text) > len(added[best].Text)) {
				best = k
			}
		}
		if best < 0 {
			i++
			continue
		}
		dst = l.Model.Encode(dst, text[start:i])
		dst = append(dst, added[best].ID)
		i += len(added[best].Text)
		start = i
	}
	return l.Model.Encode(dst, text[start:])
}

func TestGGUFVectors(t *testing.T) {
	for _, v := range ggufVocabs {
		t.Run(v.name, func(t *testing.T) {
			l := loadGGUFVocab(t, v.name)
			if got := l.Model.Pretokenizer(); got != v.pre {
				t.Errorf("Pretokenizer() = %q, want %q", got, v.pre)
			}
			bad, plain := 0, 0
			for i, c := range readVectors(t, v.name) {
				if slices.Equal(l.Model.Encode([]int32{}, c.Text), c.IDs) {
					plain++
				}
				got := encodeWithAdded(l, []int32{}, c.Text)
				if !slices.Equal(got, c.IDs) {
					bad++
					t.Errorf("vector %d %q:\n-got  %v\n+want %v", i, c.Text, got, c.IDs)
				}
				if dec := decodeAll(l.Model, got); dec != c.Text {
					t.Errorf("vector %d: decode = %q, want %q", i, dec, c.Text)
				}
			}
			t.Logf("%s: %d/46 vectors match (%d/46 without user-defined token splitting)", v.name, 46-bad, plain)
		})
	}
}

// TestByteCoverage pins the bytes each vocabulary has no token for (they
// are dropped on encode, as in llama.cpp and Hugging Face tokenizers); the
// deepseek vocabularies spell theirs with user-defined tokens.
func TestByteCoverage(t *testing.T) {
	want := map[string]string{
		"gpt-2": "", "deepseek-llm": "", "deepseek-coder": "",
		"falcon":    "03 04 05 0b 11 13 14 15 16 17 19 1c 1d 1e c0 c1 f2 f5 f6 f7 f8 f9 fa fb fc fd fe ff",
		"mpt":       "c0 c1 f5 f6 f7 f8 f9 fa fb fc fd fe ff",
		"starcoder": "c0 c1 f1 f5 f6 f7 f8 f9 fa fb fc fd fe ff",
		"refact":    "c0 c1 f1 f5 f6 f7 f8 f9 fa fb fc fd fe ff",
	}
	for _, v := range ggufVocabs {
		m := loadGGUFVocab(t, v.name).Model
		var missing []byte
		for b, id := range m.byteID {
			if id < 0 {
				missing = append(missing, byte(b))
			}
		}
		if got := fmt.Sprintf("% x", missing); got != want[v.name] {
			t.Errorf("%s: no token for bytes %q, want %q", v.name, got, want[v.name])
		}
	}
}
