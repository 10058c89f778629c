package bpe

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/krserve/krserve/engined/gguf"
	"github.com/krserve/krserve/internal/testenv"
)

func benchEncode(b *testing.B, m *Model, text string) {
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	dst := make([]int32, 0, len(text))
	tokens := 0
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu0 := threadCPU()
	for b.Loop() {
		dst = m.Encode(dst[:0], text)
		tokens = len(dst)
	}
	reportCPU(b, cpu0, len(text))
	b.ReportMetric(float64(tokens)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// reportCPU adds the thread CPU time per op and the throughput on it.
func reportCPU(b *testing.B, cpu0 time.Duration, size int) {
	if cpu := threadCPU() - cpu0; cpu > 0 {
		per := cpu.Seconds() / float64(b.N)
		b.ReportMetric(per*1e3, "cpu-ms/op")
		if size > 0 {
			b.ReportMetric(float64(size)/per/1e6, "cpu-MB/s")
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	for _, vocab := range TiktokenNames {
		for _, c := range []string{"prose", "code", "cjk"} {
			b.Run(vocab+"/"+c, func(b *testing.B) {
				benchEncode(b, tiktoken(b, vocab).Model, corpus(b, c))
			})
		}
	}
}

func BenchmarkPathological(b *testing.B) {
	for _, vocab := range TiktokenNames {
		for _, name := range pathologicalNames {
			b.Run(vocab+"/"+name, func(b *testing.B) {
				benchEncode(b, tiktoken(b, vocab).Model, pathologicalGoldenText(name))
			})
		}
	}
}

func BenchmarkEncodeGGUF(b *testing.B) {
	for _, v := range []string{"gpt-2", "deepseek-llm", "falcon"} {
		b.Run(v+"/prose", func(b *testing.B) {
			benchEncode(b, loadGGUFVocab(b, v).Model, corpus(b, "prose"))
		})
	}
}

func BenchmarkLoadTiktoken(b *testing.B) {
	for _, vocab := range TiktokenNames {
		b.Run(vocab, func(b *testing.B) {
			b.ReportAllocs()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			cpu0 := threadCPU()
			for b.Loop() {
				if _, err := LoadTiktoken(vocab); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, cpu0, 0)
		})
	}
}

func BenchmarkLoadHFJSON(b *testing.B) {
	for _, pkg := range []string{"tokenizer-llama3", "tokenizer-gpt4o"} {
		b.Run(pkg, func(b *testing.B) {
			data, err := os.ReadFile(filepath.Join(nodeModules(b), "@lenml", pkg, "models", "tokenizer.json"))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			cpu0 := threadCPU()
			for b.Loop() {
				if _, err := LoadHFJSON(data); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, cpu0, 0)
		})
	}
}

func BenchmarkLoadGGUF(b *testing.B) {
	for _, v := range []string{"gpt-2", "deepseek-llm"} {
		b.Run(v, func(b *testing.B) {
			f, err := gguf.Open(testenv.SharedFile(b, "vocab/ggml-vocab-"+v+".gguf"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			b.ReportAllocs()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			cpu0 := threadCPU()
			for b.Loop() {
				if _, err := LoadGGUF(f); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, cpu0, 0)
		})
	}
}
