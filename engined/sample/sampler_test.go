package sample

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestParamsValidate(t *testing.T) {
	nan := float32(math.NaN())
	for _, tc := range []struct {
		name string
		p    Params
		want error
	}{
		{"greedy", Params{}, nil},
		{"full", Params{Temperature: 0.7, TopK: 40, TopP: 0.9, MinP: 0.05, RepeatPenalty: 1.1, RepeatWindow: 32, Seed: 3}, nil},
		{"top_p one", Params{Temperature: 1, TopP: 1}, nil},
		{"negative temperature", Params{Temperature: -0.1}, ErrTemperature},
		{"nan temperature", Params{Temperature: nan}, ErrTemperature},
		{"negative top_k", Params{TopK: -1}, ErrTopK},
		{"top_p above one", Params{TopP: 1.01}, ErrTopP},
		{"negative top_p", Params{TopP: -0.5}, ErrTopP},
		{"min_p one", Params{MinP: 1}, ErrMinP},
		{"negative penalty", Params{RepeatPenalty: -1}, ErrPenalty},
		{"infinite penalty", Params{RepeatPenalty: float32(math.Inf(1))}, ErrPenalty},
		{"negative window", Params{RepeatWindow: -1}, ErrWindow},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.p.Validate(); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := New(Params{}, 0); !errors.Is(err, ErrVocab) {
		t.Fatalf("vocab 0: %v", err)
	}
}

func randomLogits(n int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 0))
	l := make([]float32, n)
	for i := range l {
		l[i] = float32(r.NormFloat64() * 3)
	}
	return l
}

func TestGreedyIsArgmax(t *testing.T) {
	s, _ := New(Params{}, 1000)
	for seed := range uint64(20) {
		l := randomLogits(1000, seed)
		want := int32(0)
		for i, v := range l {
			if v > l[want] {
				want = int32(i)
			}
		}
		if got := s.Sample(l, nil); got != want {
			t.Fatalf("seed %d: %d, want %d", seed, got, want)
		}
	}
}

func softmax(l []float32, temp float64) []float64 {
	p := make([]float64, len(l))
	mx := float64(slices.Max(l))
	var sum float64
	for i, v := range l {
		p[i] = math.Exp((float64(v) - mx) / temp)
		sum += p[i]
	}
	for i := range p {
		p[i] /= sum
	}
	return p
}

// Frequencies of many draws match the filtered softmax: every kept token
// within a few standard errors, and no dropped token ever drawn.
func TestSamplingDistribution(t *testing.T) {
	l := []float32{2, 1.5, 1, 0.5, 0, -1, -2, -4}
	for _, tc := range []struct {
		name string
		p    Params
		keep int // how many of the best tokens may be drawn
	}{
		{"temperature", Params{Temperature: 0.8}, 8},
		{"top_k 3", Params{Temperature: 1, TopK: 3}, 3},
		{"top_p 0.7", Params{Temperature: 1, TopP: 0.7}, 0},
		{"min_p 0.2", Params{Temperature: 1, MinP: 0.2}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			temp := float64(tc.p.Temperature)
			p := softmax(l, temp)
			keep := tc.keep
			switch {
			case tc.p.TopP > 0:
				var cum float64
				for keep = 0; cum < float64(tc.p.TopP); keep++ {
					cum += p[keep]
				}
			case tc.p.MinP > 0:
				for keep = 0; keep < len(p) && p[keep] >= float64(tc.p.MinP)*p[0]; keep++ {
				}
			}
			want := softmax(l[:keep], temp)
			tc.p.Seed = 11
			s, err := New(tc.p, len(l))
			if err != nil {
				t.Fatal(err)
			}
			const n = 200000
			counts := make([]int, len(l))
			buf := make([]float32, len(l))
			for range n {
				copy(buf, l)
				counts[s.Sample(buf, nil)]++
			}
			for i := range l {
				if i >= keep {
					if counts[i] != 0 {
						t.Fatalf("token %d (filtered out) drawn %d times", i, counts[i])
					}
					continue
				}
				f := float64(counts[i]) / n
				se := math.Sqrt(want[i] * (1 - want[i]) / n)
				if math.Abs(f-want[i]) > 5*se+1e-4 {
					t.Fatalf("token %d: frequency %.4f, want %.4f ± %.4f", i, f, want[i], 5*se)
				}
			}
		})
	}
}

func TestSeedReproducible(t *testing.T) {
	draw := func(seed uint64) []int32 {
		s, _ := New(Params{Temperature: 1, TopP: 0.95, Seed: seed}, 5000)
		var ids []int32
		for i := range 50 {
			ids = append(ids, s.Sample(randomLogits(5000, uint64(i)), nil))
		}
		return ids
	}
	a, b, c := draw(42), draw(42), draw(43)
	if !slices.Equal(a, b) {
		t.Fatal("same seed, different draws")
	}
	if slices.Equal(a, c) {
		t.Fatal("different seeds, same draws")
	}
	s, _ := New(Params{Temperature: 1, Seed: 42}, 10)
	first := s.Sample(randomLogits(10, 1), nil)
	s.Reset(42)
	if again := s.Sample(randomLogits(10, 1), nil); again != first {
		t.Fatalf("Reset: %d then %d", first, again)
	}
}

func TestRepetitionPenalty(t *testing.T) {
	s, _ := New(Params{RepeatPenalty: 2, RepeatWindow: 3}, 4)
	l := []float32{4, 3, -1, 1}
	// Token 0 is in the window (penalised once though repeated): 4/2 = 2
	// < 3, so token 1 wins. Token 2 is negative: -1*2.
	if got := s.Sample(l, []int32{0, 0, 2}); got != 1 || l[0] != 2 || l[2] != -2 || l[3] != 1 {
		t.Fatalf("got %d, logits %v", got, l)
	}
	// Token 1 only appears outside the window of 3: untouched.
	l = []float32{4, 3, -1, 1}
	if got := s.Sample(l, []int32{1, 3, 3, 3}); got != 0 || l[1] != 3 || l[3] != 0.5 {
		t.Fatalf("window: got %d, logits %v", got, l)
	}
	// Ids outside the vocabulary in the history are ignored.
	l = []float32{4, 3, -1, 1}
	if got := s.Sample(l, []int32{-5, 99}); got != 0 {
		t.Fatalf("foreign ids: %d", got)
	}
}

func TestTopKOrder(t *testing.T) {
	l := randomLogits(3000, 9)
	got := topK(make([]int32, 25), l)
	want := make([]int32, len(l))
	for i := range want {
		want[i] = int32(i)
	}
	slices.SortStableFunc(want, func(a, b int32) int {
		if l[a] > l[b] {
			return -1
		} else if l[a] < l[b] {
			return 1
		}
		return 0
	})
	if !slices.Equal(got, want[:25]) {
		t.Fatalf("topK %v\nwant %v", got, want[:25])
	}
}

func TestSampleDoesNotAllocate(t *testing.T) {
	l := randomLogits(32000, 1)
	hist := []int32{1, 2, 3, 4, 5}
	for _, p := range []Params{
		{},
		{Temperature: 0.8, Seed: 1},
		{Temperature: 0.8, TopK: 40, TopP: 0.9, Seed: 1},
		{Temperature: 0.8, TopP: 0.95, MinP: 0.05, RepeatPenalty: 1.1, Seed: 1},
	} {
		s, _ := New(p, len(l))
		buf := make([]float32, len(l))
		if n := testing.AllocsPerRun(20, func() { copy(buf, l); s.Sample(buf, hist) }); n != 0 {
			t.Fatalf("%+v: %v allocs per sample", p, n)
		}
	}
}

func BenchmarkSample(b *testing.B) {
	l := randomLogits(32000, 1)
	for _, tc := range []struct {
		name string
		p    Params
	}{
		{"greedy", Params{}},
		{"top_k40_top_p0.9", Params{Temperature: 0.8, TopK: 40, TopP: 0.9}},
		{"top_p0.95", Params{Temperature: 0.8, TopP: 0.95}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s, _ := New(tc.p, len(l))
			buf := make([]float32, len(l))
			b.ReportAllocs()
			for b.Loop() {
				copy(buf, l)
				s.Sample(buf, nil)
			}
		})
	}
}
