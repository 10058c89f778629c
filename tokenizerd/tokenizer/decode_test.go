package tokenizer

import (
	"strings"
	"testing"

	"github.com/krserve/krserve/internal/testenv"
)

// fuzzTokenizers are the vocabularies the round-trip fuzzers cover.
func fuzzTokenizers(t testing.TB) map[string]*Tokenizer {
	return map[string]*Tokenizer{
		"llama-spm": load(t, testenv.SharedFile(t, "vocab/ggml-vocab-llama-spm.gguf")),
		"tok512":    load(t, testenv.SharedFile(t, "models/tok512.bin")),
		"cl100k":    load(t, "cl100k_base"),
		"gpt-2":     load(t, testenv.SharedFile(t, "vocab/ggml-vocab-gpt-2.gguf")),
	}
}

// checkStream asserts that streaming ids gives Decode's text on every
// prefix, with invalid bytes replaced one by one, and never a broken
// UTF-8 sequence.
func checkStream(t *testing.T, name string, tk *Tokenizer, ids []int32) {
	d := tk.NewStreamDecoder()
	var got strings.Builder
	for k, id := range ids {
		s := d.Push(id)
		if !utf8Valid(s) {
			t.Fatalf("%s: Push(%d) returned invalid UTF-8 %q", name, id, s)
		}
		got.WriteString(s)
		// got + what Flush would give must be Decode(ids[:k+1]).
		want := string([]rune(tk.Decode(ids[:k+1])))
		rest := string([]rune(string(d.pending)))
		if got.String()+rest != want {
			t.Fatalf("%s prefix %d: stream %q + %q, Decode %q", name, k+1, got.String(), rest, want)
		}
	}
	got.WriteString(d.Flush())
	if want := string([]rune(tk.Decode(ids))); got.String() != want {
		t.Fatalf("%s: stream %q, Decode %q", name, got.String(), want)
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\x00") == s }

func FuzzRoundTrip(f *testing.F) {
	toks := fuzzTokenizers(f)
	for _, s := range corpus(f)[2:] {
		if len(s) < 2000 {
			f.Add(s)
		}
	}
	f.Add("\xe4\xb8")
	f.Fuzz(func(t *testing.T, text string) {
		for name, tk := range toks {
			ids := tk.Encode(text, EncodeOptions{})
			if tk.Kind() == KindSPM && tk.Name() != "tok512.bin" && strings.Contains(text, "▁") {
				continue // U+2581 is the space mark of GGUF SentencePiece vocabularies
			}
			if got := tk.Decode(ids); got != text {
				t.Fatalf("%s: decode(encode(%q)) = %q", name, text, got)
			}
			checkStream(t, name, tk, ids)
		}
	})
}

// FuzzStreamDecode feeds arbitrary id sequences (byte tokens that split
// characters, control tokens, ids out of range).
func FuzzStreamDecode(f *testing.F) {
	toks := fuzzTokenizers(f)
	f.Add([]byte{0x01, 0x00, 0xe4, 0x00, 0xb8, 0x00, 0x80, 0x00})
	f.Add([]byte("\x02\x00\x1d\x01\x0d\x00\xff\x7f"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		ids := make([]int32, len(raw)/2)
		for i := range ids {
			ids[i] = int32(raw[2*i]) | int32(raw[2*i+1])<<8
		}
		for name, tk := range toks {
			// Bias toward byte tokens so characters get split.
			if tk.Kind() == KindSPM {
				for i := range ids {
					if ids[i]%3 == 0 {
						ids[i] = 3 + ids[i]%256
					}
				}
			}
			checkStream(t, name, tk, ids)
		}
	})
}

func TestStreamHoldsSplitCharacter(t *testing.T) {
	tk := load(t, testenv.SharedFile(t, "vocab/ggml-vocab-llama-spm.gguf"))
	// BOS, then "▁" + the bytes of "日" as byte tokens <0xE6> <0x97> <0xA5>.
	ids := []int32{1, 29871, 3 + 0xe6, 3 + 0x97, 3 + 0xa5, 29889}
	d := tk.NewStreamDecoder()
	var outs []string
	for _, id := range ids {
		outs = append(outs, d.Push(id))
	}
	want := []string{"", "", "", "", "日", "."}
	for i := range want {
		if outs[i] != want[i] {
			t.Fatalf("push %d: %q, want %q (all %q)", i, outs[i], want[i], outs)
		}
	}
	if got := tk.Decode(ids); got != "日." {
		t.Fatalf("Decode %q", got)
	}
	d.Push(3 + 0xe6)
	if got := d.Flush(); got != "\uFFFD" {
		t.Fatalf("flush of a cut character %q", got)
	}
}
