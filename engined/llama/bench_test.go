package llama

import (
	"os"
	"strconv"
	"testing"

	"github.com/krserve/krserve/engined/kernels"
	"github.com/krserve/krserve/engined/sample"
)

// BenchmarkDecodeStep measures one decode step (Forward of one token plus
// greedy sampling) at positions cycling through 64..127, after a warm-up
// that grows every buffer. Run with -benchmem: it must report 0 allocs/op.
func BenchmarkDecodeStep(b *testing.B) {
	for _, tc := range []struct {
		name string
		path func(b *testing.B) string
	}{
		{"stories260K", func(b *testing.B) string { return "" }},
		{"default-q8_0", func(b *testing.B) string { return synthModel(b, "default", kernels.Q8_0) }},
		// KRSERVE_BENCH_MODEL names a bigger model to measure (skipped when unset).
		{"env", func(b *testing.B) string {
			p := os.Getenv("KRSERVE_BENCH_MODEL")
			if p == "" {
				b.Skip("KRSERVE_BENCH_MODEL not set")
			}
			return p
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var m *Model
			if p := tc.path(b); p == "" {
				m = loadModel(b, "models/stories260K.bin", WithBackend(BackendNative, 1))
			} else {
				var err error
				if m, err = Load(p, WithBackend(BackendNative, benchThreads())); err != nil {
					b.Fatal(err)
				}
				defer m.Close()
			}
			kv, err := m.NewKVArena(8, 16)
			if err != nil {
				b.Fatal(err)
			}
			table := []int32{0, 1, 2, 3, 4, 5, 6, 7}
			st := m.NewState(1)
			logits := make([]float32, m.Config().Vocab)
			smp, _ := sample.New(sample.Params{}, m.Config().Vocab)
			batch := &Batch{Tables: [][]int32{table}}
			history := make([]int32, 0, 128)
			tok := int32(1)
			step := func(pos int) {
				batch.Reset()
				batch.Tables = append(batch.Tables, table)
				batch.Add(tok, int32(pos), 0, true)
				if err := m.Forward(st, batch, kv, logits); err != nil {
					b.Fatal(err)
				}
				tok = smp.Sample(logits, history)
			}
			for pos := range 128 {
				step(pos)
			}
			pos := 64
			b.ReportAllocs()
			for b.Loop() {
				step(pos)
				if pos++; pos == 128 {
					pos = 64
				}
			}
		})
	}
}

// benchThreads reads KRSERVE_BENCH_THREADS (default 1).
func benchThreads() int {
	if n, err := strconv.Atoi(os.Getenv("KRSERVE_BENCH_THREADS")); err == nil && n > 0 {
		return n
	}
	return 1
}
