package tokenizer

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func benchText(b *testing.B) string {
	return strings.Join(corpus(b), "\n")
}

func BenchmarkAppendEncode(b *testing.B) {
	text := benchText(b)
	for name, tk := range fuzzTokenizers(b) {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			b.ReportAllocs()
			var dst []int32
			for b.Loop() {
				dst = tk.AppendEncode(dst[:0], text, EncodeOptions{Special: SpecialAll})
			}
		})
	}
}

func BenchmarkEncodeBatch(b *testing.B) {
	texts := manyTexts(b, 512)
	n := 0
	for _, s := range texts {
		n += len(s)
	}
	tk := load(b, "cl100k_base")
	for _, threads := range []int{1, 2} {
		b.Run("threads="+string(rune('0'+threads)), func(b *testing.B) {
			cfg := DefaultParallelConfig()
			cfg.NumThreads = threads
			p, err := NewPool(tk, cfg, prometheus.NewRegistry())
			if err != nil {
				b.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- p.Run(context.Background()) }()
			defer func() { p.Close(); <-done }()
			b.SetBytes(int64(n))
			for b.Loop() {
				if _, err := p.EncodeBatch(context.Background(), texts, EncodeOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkStreamDecode(b *testing.B) {
	text := benchText(b)
	for name, tk := range fuzzTokenizers(b) {
		ids := tk.Encode(text, EncodeOptions{})
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			b.ReportAllocs()
			d := tk.NewStreamDecoder()
			for b.Loop() {
				d.Reset()
				for _, id := range ids {
					d.Push(id)
				}
				d.Flush()
			}
		})
	}
}
