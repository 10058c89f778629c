package llama

import (
	"os"
	"slices"
	"testing"

	"github.com/krserve/krserve/engined/sample"
)

// llama2.c's `run stories260K.bin -z tok512.bin -t 0.0 -n 200` forwards
// positions 0..199 (BOS first) and prints the token sampled at each: 200
// generated tokens. testdata/stories260K_greedy.txt holds the text that
// karpathy/llama2.c publishes for it (doc/stories260K.md, test_all.py).
const llama2cSteps = 200

func TestStories260KGreedyMatchesLlama2C(t *testing.T) {
	want, err := os.ReadFile("testdata/stories260K_greedy.txt")
	if err != nil {
		t.Fatal(err)
	}
	tk := loadTok512(t)
	var binIDs []int32
	for _, tc := range []struct {
		file, backend string
	}{
		{"models/stories260K.bin", BackendNative},
		{"models/stories260K.bin", BackendReference},
		{"models/stories260K.gguf", BackendNative},
		{"models/stories260K.gguf", BackendReference},
	} {
		t.Run(tc.file+"/"+tc.backend, func(t *testing.T) {
			m := loadModel(t, tc.file, WithBackend(tc.backend, 2))
			g := greedy(t, m, []int32{1}, 0)
			if len(g.IDs) < llama2cSteps {
				t.Fatalf("generated %d tokens, want at least %d", len(g.IDs), llama2cSteps)
			}
			if got := tk.decode(1, g.IDs[:llama2cSteps]); got != string(want) {
				t.Fatalf("greedy text differs from llama2.c\n got: %q\nwant: %q", got, want)
			}
			if got := tk.decode(1, g.IDs[:llama2cSteps-1]); got == string(want) {
				t.Fatalf("the text is reached before %d tokens: step counting is off", llama2cSteps)
			}
			if m.Format() == "llama2c" {
				// llama2.c stops when the model emits BOS: after 345 tokens.
				if len(g.IDs) != 345 || g.Finish != sample.FinishStop {
					t.Fatalf("llama2.c checkpoint: %d tokens, finish %q; want 345, stop", len(g.IDs), g.Finish)
				}
				if binIDs == nil {
					binIDs = g.IDs
				} else if !slices.Equal(binIDs, g.IDs) {
					t.Fatal("native and reference greedy ids differ")
				}
				return
			}
			// The GGUF has no BOS stop: it runs to the context but must agree
			// with the checkpoint on the whole story.
			if binIDs != nil && !slices.Equal(binIDs, g.IDs[:len(binIDs)]) {
				t.Fatal("GGUF greedy ids differ from the llama2.c checkpoint's")
			}
			if len(g.IDs) != m.Config().Context || g.Finish != sample.FinishLength {
				t.Fatalf("GGUF: %d tokens, finish %q; want %d, length", len(g.IDs), g.Finish, m.Config().Context)
			}
		})
	}
}

func TestGenerateMaxTokensAndStopIDs(t *testing.T) {
	m := loadModel(t, "models/stories260K.bin")
	full := greedy(t, m, []int32{1}, 0)
	g := greedy(t, m, []int32{1}, 10)
	if !slices.Equal(g.IDs, full.IDs[:10]) || g.Finish != sample.FinishLength {
		t.Fatalf("max tokens 10: %v %q, want %v length", g.IDs, g.Finish, full.IDs[:10])
	}
	s, _ := sample.New(sample.Params{}, m.Config().Vocab)
	stop := full.IDs[5]
	got, err := m.Generate(t.Context(), []int32{1}, s, GenerateOptions{StopIDs: []int32{stop}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	first := slices.Index(full.IDs, stop)
	if !slices.Equal(got.IDs, full.IDs[:first]) || got.Finish != sample.FinishStop {
		t.Fatalf("stop id %d: %v %q, want %v stop", stop, got.IDs, got.Finish, full.IDs[:first])
	}
	var seen []int32
	got, err = m.Generate(t.Context(), []int32{1}, s, GenerateOptions{}, func(id int32) bool {
		seen = append(seen, id)
		return len(seen) < 3
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seen, full.IDs[:3]) || !slices.Equal(got.IDs, seen) || got.Finish != sample.FinishStop {
		t.Fatalf("emit stop: saw %v, ids %v %q", seen, got.IDs, got.Finish)
	}
}

// A long prompt prefilled in chunks gives the same continuation as one
// prefilled in one batch: chunk boundaries must not change the KV contents.
func TestGeneratePromptChunks(t *testing.T) {
	m := loadModel(t, "models/stories260K.bin")
	full := greedy(t, m, []int32{1}, 60)
	prompt := append([]int32{1}, full.IDs[:40]...)
	s, _ := sample.New(sample.Params{}, m.Config().Vocab)
	for _, chunk := range []int{1, 7, 41} {
		g, err := m.Generate(t.Context(), prompt, s, GenerateOptions{MaxTokens: 20, PromptChunk: chunk, BlockSize: 5}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(g.IDs, full.IDs[40:60]) {
			t.Fatalf("chunk %d: %v, want %v", chunk, g.IDs, full.IDs[40:60])
		}
	}
}

func TestLlama2CQ8CheckpointParses(t *testing.T) {
	q := loadModel(t, "models/stories260K-q8.bin")
	f := loadModel(t, "models/stories260K.bin")
	if q.Format() != "llama2c-q8" || q.Config() != f.Config() {
		t.Fatalf("q8 config %+v (%s), fp32 %+v", q.Config(), q.Format(), f.Config())
	}
	// Each weight is within half a quantization step of the fp32 one.
	for i := range q.layers {
		for _, p := range [][2]*[]byte{{&q.layers[i].down.Data, &f.layers[i].down.Data}, {&q.layers[i].wq.Data, &f.layers[i].wq.Data}} {
			a, b := f32s(*p[0]), f32s(*p[1])
			if e := relErr(a, b); e > 0.02 || e == 0 {
				t.Fatalf("layer %d: q8 weights differ from fp32 by %.4f relative", i, e)
			}
		}
	}
	// runq.c's own greedy text drifts after ~40 tokens (its w2 groups are
	// misread); correctly dequantized weights keep the fp32 story longer.
	gq, gf := greedy(t, q, []int32{1}, 40), greedy(t, f, []int32{1}, 40)
	if !slices.Equal(gq.IDs, gf.IDs) {
		t.Fatalf("q8 greedy %v\nfp32 greedy %v", gq.IDs, gf.IDs)
	}
}
