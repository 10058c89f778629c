package llama

import (
	"errors"
	"math/rand/v2"
	"testing"
)

// runAlone feeds tokens one Forward per token through a fresh arena with a
// contiguous table and returns the logits after each.
func runAlone(t *testing.T, m *Model, tokens []int32) [][]float32 {
	t.Helper()
	kv, err := m.NewKVArena(len(tokens)/4+1, 4)
	if err != nil {
		t.Fatal(err)
	}
	table := make([]int32, kv.NumBlocks)
	for i := range table {
		table[i] = int32(i)
	}
	st := m.NewState(1)
	var out [][]float32
	for pos, tok := range tokens {
		b := &Batch{Tables: [][]int32{table}}
		b.Add(tok, int32(pos), 0, true)
		l := make([]float32, m.Config().Vocab)
		if err := m.Forward(st, b, kv, l); err != nil {
			t.Fatal(err)
		}
		out = append(out, l)
	}
	return out
}

func TestBatchedForwardEqualsSeparate(t *testing.T) {
	for _, backend := range []string{BackendNative, BackendReference} {
		t.Run(backend, func(t *testing.T) {
			m := loadModel(t, "models/stories260K.bin", WithBackend(backend, 2))
			rng := rand.New(rand.NewPCG(1, 2))
			seqs := make([][]int32, 3)
			for i := range seqs {
				seqs[i] = []int32{1}
				for range 9 + 4*i {
					seqs[i] = append(seqs[i], int32(rng.IntN(512)))
				}
			}
			alone := make([][][]float32, len(seqs))
			for i, s := range seqs {
				alone[i] = runAlone(t, m, s)
			}
			// Physical blocks interleaved across sequences, out of order.
			const bs = 4
			kv, err := m.NewKVArena(16, bs)
			if err != nil {
				t.Fatal(err)
			}
			perm := rng.Perm(16)
			tables := make([][]int32, len(seqs))
			for i := range perm {
				s := i % len(seqs)
				tables[s] = append(tables[s], int32(perm[i]))
			}
			// Step 1: prefill the first 6 tokens of every sequence in one
			// batch; step 2..: one token of each still-running sequence.
			st := m.NewState(32)
			logits := make([]float32, 3*m.Config().Vocab)
			b := &Batch{Tables: tables}
			for s := range seqs {
				for p := range 6 {
					b.Add(seqs[s][p], int32(p), int32(s), p == 5)
				}
			}
			check := func(which []int, pos []int) {
				for j, s := range which {
					got := logits[j*m.Config().Vocab : (j+1)*m.Config().Vocab]
					if e := relErr(got, alone[s][pos[j]]); e > 1e-5 {
						t.Fatalf("sequence %d position %d: batched logits differ by %.2g", s, pos[j], e)
					}
				}
			}
			if err := m.Forward(st, b, kv, logits); err != nil {
				t.Fatal(err)
			}
			check([]int{0, 1, 2}, []int{5, 5, 5})
			for p := 6; ; p++ {
				b.Reset()
				b.Tables = tables
				var which, pos []int
				for s := range seqs {
					if p < len(seqs[s]) {
						b.Add(seqs[s][p], int32(p), int32(s), true)
						which, pos = append(which, s), append(pos, p)
					}
				}
				if len(which) == 0 {
					break
				}
				if err := m.Forward(st, b, kv, logits); err != nil {
					t.Fatal(err)
				}
				check(which, pos)
			}
		})
	}
}

func TestNativeMatchesReferenceLogits(t *testing.T) {
	for _, file := range []string{"models/stories260K.bin", "models/stories260K.gguf"} {
		ref := loadModel(t, file, WithBackend(BackendReference, 1))
		nat := loadModel(t, file, WithBackend(BackendNative, 2))
		tokens := append([]int32{1}, greedy(t, ref, []int32{1}, 100).IDs...)
		a, b := runAlone(t, ref, tokens), runAlone(t, nat, tokens)
		for i := range a {
			if e := relErr(b[i], a[i]); e > 1e-4 {
				t.Fatalf("%s position %d: native logits differ from reference by %.2g", file, i, e)
			}
		}
	}
}

func TestForwardRejectsBadBatches(t *testing.T) {
	m := loadModel(t, "models/stories260K.bin")
	kv, err := m.NewKVArena(4, 8)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := m.NewKVArena(4, 8)
	other.Layers = other.Layers[:2]
	st := m.NewState(4)
	logits := make([]float32, 2*512)
	good := func() *Batch {
		return &Batch{Tokens: []int32{1, 5}, Pos: []int32{0, 1}, Seq: []int32{0, 0}, Tables: [][]int32{{2}}, Logits: []int32{1}}
	}
	for _, tc := range []struct {
		name   string
		edit   func(b *Batch)
		st     *State
		kv     *KVArena
		logits []float32
	}{
		{"empty", func(b *Batch) { *b = Batch{} }, st, kv, logits},
		{"length mismatch", func(b *Batch) { b.Pos = b.Pos[:1] }, st, kv, logits},
		{"token out of vocab", func(b *Batch) { b.Tokens[1] = 512 }, st, kv, logits},
		{"negative token", func(b *Batch) { b.Tokens[0] = -1 }, st, kv, logits},
		{"position past context", func(b *Batch) { b.Pos[1] = 512; b.Tables[0] = []int32{0, 1, 2, 3} }, st, kv, logits},
		{"negative position", func(b *Batch) { b.Pos[0] = -1 }, st, kv, logits},
		{"unknown sequence", func(b *Batch) { b.Seq[1] = 1 }, st, kv, logits},
		{"table too short", func(b *Batch) { b.Pos[1] = 8 }, st, kv, logits},
		{"block outside arena", func(b *Batch) { b.Tables[0][0] = 4 }, st, kv, logits},
		{"logits index", func(b *Batch) { b.Logits[0] = 2 }, st, kv, logits},
		{"logits buffer short", func(b *Batch) {}, st, kv, logits[:100]},
		{"batch over state", func(b *Batch) {}, m.NewState(1), kv, logits},
		{"nil state", func(b *Batch) {}, nil, kv, logits},
		{"foreign arena", func(b *Batch) {}, st, other, logits},
		{"nil arena", func(b *Batch) {}, st, nil, logits},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := good()
			tc.edit(b)
			if err := m.Forward(tc.st, b, tc.kv, tc.logits); !errors.Is(err, ErrBatch) {
				t.Fatalf("got %v, want ErrBatch", err)
			}
		})
	}
	if err := m.Forward(st, good(), kv, logits); err != nil {
		t.Fatalf("good batch: %v", err)
	}
}

func TestKVArena(t *testing.T) {
	m := loadModel(t, "models/stories260K.bin")
	if got, want := m.BytesPerBlock(16), 2*5*16*32*4; got != want {
		t.Fatalf("BytesPerBlock(16) = %d, want %d", got, want)
	}
	if _, err := m.NewKVArena(0, 16); !errors.Is(err, ErrConfig) {
		t.Fatalf("zero blocks: %v", err)
	}
	kv, _ := m.NewKVArena(3, 2)
	for i := range kv.Layers[0].K[2*32 : 4*32] {
		kv.Layers[4].K[2*32+i] = float32(i + 1)
		kv.Layers[4].V[2*32+i] = -float32(i + 1)
	}
	kv.CopyBlock(2, 1)
	for i := range 2 * 32 {
		if kv.Layers[4].K[4*32+i] != float32(i+1) || kv.Layers[4].V[4*32+i] != -float32(i+1) {
			t.Fatalf("CopyBlock: value %d not copied", i)
		}
	}
	defer func() {
		if r := recover(); r == nil {
			t.Fatal("CopyBlock out of range did not panic")
		}
	}()
	kv.CopyBlock(3, 0)
}
