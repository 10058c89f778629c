package tokenizer

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/krserve/krserve/internal/testenv"
)

func TestTiktokenSpecialGolden(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "special.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	toks := map[string]*Tokenizer{}
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		var c struct {
			Vocab string  `json:"vocab"`
			Text  string  `json:"text"`
			All   []int32 `json:"all"`
			None  []int32 `json:"none"`
		}
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		tk := toks[c.Vocab]
		if tk == nil {
			tk = load(t, c.Vocab)
			toks[c.Vocab] = tk
		}
		if got := tk.Encode(c.Text, EncodeOptions{Special: SpecialAll}); !slices.Equal(got, c.All) {
			t.Errorf("%s all %q:\n-got  %v\n+want %v", c.Vocab, c.Text, got, c.All)
		}
		if got := tk.Encode(c.Text, EncodeOptions{}); !slices.Equal(got, c.None) {
			t.Errorf("%s none %q:\n-got  %v\n+want %v", c.Vocab, c.Text, got, c.None)
		}
		for _, ids := range [][]int32{c.All, c.None} {
			if d := tk.Decode(ids); d != c.Text {
				t.Errorf("%s decode %v = %q, want %q", c.Vocab, ids, d, c.Text)
			}
		}
		n++
	}
	if n != 26 {
		t.Fatalf("%d cases, want 26", n)
	}
}

func TestGGUFSpecialTokens(t *testing.T) {
	phi3 := load(t, testenv.SharedFile(t, "vocab/ggml-vocab-phi-3.gguf"))
	llama := load(t, testenv.SharedFile(t, "vocab/ggml-vocab-llama-spm.gguf"))
	cases := []struct {
		name string
		tk   *Tokenizer
		text string
		o    EncodeOptions
		want []int32
	}{
		// llama.cpp strips the white space after Phi-3's special tokens
		// (RSTRIP, keyed on general.name) and puts the dummy prefix on the
		// next stretch; these ids are llama.cpp's.
		{"phi-3 chat", phi3, "<|user|>\nSYS\nHI<|end|>\n<|assistant|>\n",
			EncodeOptions{AddBOS: true, Special: SpecialAll}, []int32{1, 32010, 317, 21554, 13, 17628, 32007, 32001}},
		{"llama control parsed", llama, "<s>Hi</s>", EncodeOptions{Special: SpecialAll}, []int32{1, 6324, 2}},
		{"llama control as text", llama, "</s>", EncodeOptions{}, []int32{1533, 29879, 29958}},
		{"bos and eos", llama, "Hi", EncodeOptions{AddBOS: true, AddEOS: true}, []int32{1, 6324, 2}},
		{"empty with bos", llama, "", EncodeOptions{AddBOS: true}, []int32{1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.tk.Encode(c.text, c.o); !slices.Equal(got, c.want) {
				t.Fatalf("-got %v\n+want %v", got, c.want)
			}
		})
	}
	// phi-3 "</s>" is user-defined: split out even as ordinary text.
	ids := phi3.Encode("a</s>b", EncodeOptions{})
	if !slices.Contains(ids, 2) {
		t.Fatalf("user-defined </s> not matched: %v", ids)
	}
	if !phi3.IsControl(32000) || phi3.IsControl(2) || phi3.IsControl(450) {
		t.Fatal("IsControl wrong for phi-3")
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name string
		spec string
		want error
	}{
		{"bert", testenv.SharedFile(t, "vocab/ggml-vocab-bert-bge.gguf"), ErrUnsupported},
		{"unknown name", "p50k_base", nil},
		{"missing file", filepath.Join(dir, "nope.gguf"), os.ErrNotExist},
		{"corrupt gguf", write("bad.gguf", []byte("GGUF\x03\x00\x00\x00garbage")), ErrFormat},
		{"corrupt json", write("tokenizer.json", []byte(`{"model": {"type": "BPE", "vocab": [}`)), ErrFormat},
		{"corrupt bin", write("tokenizer.bin", []byte{7, 0, 0, 0, 1, 2}), ErrFormat},
		{"sniffed gguf", write("model.weights", []byte("GGUF\x03\x00\x00\x00garbage")), ErrFormat},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(c.spec)
			if err == nil {
				t.Fatal("no error")
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("err %v, want %v", err, c.want)
			}
		})
	}
}

func TestAccessors(t *testing.T) {
	cl := load(t, "cl100k_base")
	if cl.Kind() != KindBPE || cl.Name() != "cl100k_base" || cl.BOS() != -1 || cl.EOS() != 100257 || cl.DefaultAddBOS() {
		t.Fatalf("cl100k: kind %s name %s bos %d eos %d", cl.Kind(), cl.Name(), cl.BOS(), cl.EOS())
	}
	if cl.VocabSize() != 100277 || cl.TokenText(100257) != "<|endoftext|>" || !cl.IsControl(100257) || cl.TokenText(9906) != "Hello" {
		t.Fatalf("cl100k: vocab %d text %q", cl.VocabSize(), cl.TokenText(9906))
	}
	sp := load(t, testenv.SharedFile(t, "models/tok512.bin"))
	if sp.Kind() != KindSPM || sp.VocabSize() != 512 || sp.TokenText(1) != "\n<s>\n" || sp.TokenText(13) != "\n" || !sp.IsControl(1) {
		t.Fatalf("tok512: kind %s size %d text %q", sp.Kind(), sp.VocabSize(), sp.TokenText(13))
	}
	if sp.TokenText(-1) != "" || sp.TokenText(99999) != "" || cl.TokenText(-5) != "" {
		t.Fatal("out-of-range TokenText not empty")
	}
}
