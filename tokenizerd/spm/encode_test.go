package spm

import (
	"errors"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/krserve/krserve/internal/testenv"
)

// naiveEncode is llama2.c's run.c encoder, kept quadratic and literal: map
// characters to tokens (bytes on a miss), then merge the best-scoring pair,
// leftmost on ties, until no pair is a token.
func naiveEncode(m *Model, text string) []int32 {
	if text == "" {
		return nil
	}
	buf := string(m.escape(nil, text, m.addSpacePrefix))
	var toks []string
	for i := 0; i < len(buf); {
		n := int(charLen([]byte(buf[i:])))
		toks = append(toks, buf[i:i+n])
		i += n
	}
	for {
		best, bestScore := -1, float32(0)
		for i := 0; i+1 < len(toks); i++ {
			id, ok := m.index[toks[i]+toks[i+1]]
			if !ok || !m.types[id].mergeable() {
				continue
			}
			if best < 0 || m.scores[id] > bestScore {
				best, bestScore = i, m.scores[id]
			}
		}
		if best < 0 {
			break
		}
		toks[best] += toks[best+1]
		toks = slices.Delete(toks, best+1, best+2)
	}
	var ids []int32
	for _, p := range toks {
		if id, ok := m.index[p]; ok && m.types[id].mergeable() {
			ids = append(ids, id)
			continue
		}
		for i := 0; i < len(p); i++ {
			ids = append(ids, m.byteID[p[i]])
		}
	}
	return ids
}

func randomText(r *rand.Rand, n int) string {
	alphabet := []string{"a", "b", "e", "t", "h", " ", " ", "  ", "\n", ",", "th", "the", "ing", "é", "日", "本", "🦙", "\xff", "3", "<", "s", ">"}
	var b strings.Builder
	for range n {
		b.WriteString(alphabet[r.IntN(len(alphabet))])
	}
	return b.String()
}

func TestHeapMatchesNaive(t *testing.T) {
	models := map[string]*Model{
		"llama-spm": loadGGUF(t, "vocab/ggml-vocab-llama-spm.gguf"),
		"tok512":    loadGGUF(t, "models/stories260K.gguf"),
	}
	r := rand.New(rand.NewPCG(1, 2))
	for name, m := range models {
		for i := range 300 {
			text := randomText(r, 1+r.IntN(60))
			if got, want := m.Encode(nil, text), naiveEncode(m, text); !slices.Equal(got, want) {
				t.Fatalf("%s case %d %q:\n heap  %v\n naive %v", name, i, text, got, want)
			}
		}
	}
}

func TestLiteralSpaceMarkIsASpace(t *testing.T) {
	// GGUF vocabularies spell the space as U+2581, so a literal one in the
	// text encodes like a space, as in llama.cpp.
	m := loadGGUF(t, "vocab/ggml-vocab-llama-spm.gguf")
	if a, b := m.Encode(nil, "a▁b"), m.Encode(nil, "a b"); !slices.Equal(a, b) {
		t.Fatalf("a▁b %v, a b %v", a, b)
	}
}

func TestSafeSplit(t *testing.T) {
	m := loadGGUF(t, "vocab/ggml-vocab-llama-spm.gguf")
	if !m.splitSafe {
		t.Fatal("llama vocabulary should be split-safe")
	}
	story, err := os.ReadFile(testenv.SharedFile(t, "models/README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(story)
	whole := m.Encode(nil, text)
	for near := 1; near < len(text); near += 97 {
		p := m.SafeSplit(text, near)
		if p < 0 {
			t.Fatalf("no split near %d", near)
		}
		if p-near > window || near-p > window {
			t.Fatalf("split %d too far from %d", p, near)
		}
		got := m.EncodeFragment(m.Encode(nil, text[:p]), text[p:], false)
		if !slices.Equal(got, whole) {
			t.Fatalf("split at %d changes the ids", p)
		}
	}
	if p := m.SafeSplit(strings.Repeat("a", 10000), 5000); p != -1 {
		t.Fatalf("split %d in text without spaces", p)
	}
}

func TestLoadErrors(t *testing.T) {
	tok512, err := os.ReadFile(testenv.SharedFile(t, "models/tok512.bin"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrFormat},
		{"bad max length", []byte{0, 0, 0, 0}, ErrFormat},
		{"header only", tok512[:4], ErrFormat},
		{"truncated record", tok512[:len(tok512)-3], ErrFormat},
		{"negative length", append(slices.Clone(tok512[:4]), 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff), ErrFormat},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := ParseLlama2C(c.data); !errors.Is(err, c.want) {
				t.Fatalf("err %v, want %v", err, c.want)
			}
		})
	}
	if _, err := LoadLlama2C("/nonexistent/tokenizer.bin"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	newCases := []struct {
		name string
		v    Vocab
	}{
		{"no tokens", Vocab{}},
		{"scores length", Vocab{Pieces: []string{"a"}, Scores: nil}},
		{"types length", Vocab{Pieces: []string{"a"}, Scores: []float32{0}, Types: []TokenType{1, 1}}},
		{"bos range", Vocab{Pieces: []string{"a"}, Scores: []float32{0}, BOS: 5, EOS: -1, UNK: -1}},
		{"add bos without bos", Vocab{Pieces: []string{"a"}, Scores: []float32{0}, BOS: -1, EOS: -1, UNK: -1, AddBOS: true}},
	}
	for _, c := range newCases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := New(c.v); !errors.Is(err, ErrFormat) {
				t.Fatalf("err %v, want ErrFormat", err)
			}
		})
	}
}

func FuzzRoundTrip(f *testing.F) {
	m := loadGGUF(f, "vocab/ggml-vocab-llama-spm.gguf")
	bin, err := LoadLlama2C(testenv.SharedFile(f, "models/tok512.bin"))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range sampleTexts {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		ids := m.Encode(nil, text)
		if !strings.Contains(text, "▁") {
			if got := m.Decode(ids); got != text {
				t.Fatalf("llama: decode(encode(%q)) = %q", text, got)
			}
		}
		if got := bin.Decode(bin.Encode(nil, text)); got != text {
			t.Fatalf("tok512: decode(encode(%q)) = %q", text, got)
		}
		if len(text) < 200 {
			if want := naiveEncode(m, text); !slices.Equal(ids, want) {
				t.Fatalf("%q: heap %v naive %v", text, ids, want)
			}
		}
		if p := m.SafeSplit(text, len(text)/2); p >= 0 {
			got := m.EncodeFragment(m.Encode(nil, text[:p]), text[p:], false)
			if !slices.Equal(got, ids) {
				t.Fatalf("%q split at %d: %v, whole %v", text, p, got, ids)
			}
		}
	})
}

func FuzzParseLlama2C(f *testing.F) {
	tok512, err := os.ReadFile(testenv.SharedFile(f, "models/tok512.bin"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tok512)
	f.Add(tok512[:100])
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseLlama2C(data)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v does not wrap ErrFormat", err)
			}
			return
		}
		ids := m.Encode(nil, "Once upon a time \xff 日本")
		_ = m.Decode(ids)
	})
}
