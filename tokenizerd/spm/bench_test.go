package spm

import (
	"encoding/base64"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/krserve/krserve/internal/testenv"
)

// pathological returns the inputs that make naive BPE merge loops
// quadratic: one letter repeated, random letters, Han text with no spaces
// and base64.
func pathological() map[string]string {
	r := rand.New(rand.NewPCG(7, 7))
	letters := make([]byte, 100_000)
	for i := range letters {
		letters[i] = byte('a' + r.IntN(26))
	}
	var han strings.Builder
	for han.Len() < 90_000 {
		han.WriteRune(rune(0x4e00 + r.IntN(0x5000)))
	}
	raw := make([]byte, 75_000)
	for i := range raw {
		raw[i] = byte(r.Uint32())
	}
	return map[string]string{
		"one_letter_100KB": strings.Repeat("a", 100_000),
		"random_100KB":     string(letters),
		"han_90KB":         han.String(),
		"base64_100KB":     base64.StdEncoding.EncodeToString(raw),
	}
}

func BenchmarkEncode(b *testing.B) {
	m := loadGGUF(b, "vocab/ggml-vocab-llama-spm.gguf")
	story, err := os.ReadFile(testenv.SharedFile(b, "models/README.md"))
	if err != nil {
		b.Fatal(err)
	}
	text := string(story)
	b.Run("prose", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		var dst []int32
		for b.Loop() {
			dst = m.Encode(dst[:0], text)
		}
	})
	for name, text := range pathological() {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			var dst []int32
			for b.Loop() {
				dst = m.Encode(dst[:0], text)
			}
		})
	}
}
