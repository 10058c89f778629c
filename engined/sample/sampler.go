package sample

import (
	"fmt"
	"math"
	"slices"
)

// Sampler draws token ids from logits according to Params. It holds its
// own random state and scratch buffers sized for the vocabulary, so Sample
// does not allocate. A Sampler belongs to one sequence and one goroutine.
type Sampler struct {
	p     Params
	vocab int
	rng   rng
	idx   []int32   // candidate token ids
	prob  []float32 // unnormalised probability by token id
	seen  []uint32  // repetition-penalty stamps by token id
	stamp uint32
}

// New returns a Sampler for logits of vocab values.
func New(p Params, vocab int) (*Sampler, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if vocab <= 0 {
		return nil, fmt.Errorf("%w: got %d", ErrVocab, vocab)
	}
	s := &Sampler{p: p, vocab: vocab, rng: newRNG(p.Seed)}
	if !p.Greedy() {
		s.idx = make([]int32, vocab)
		s.prob = make([]float32, vocab)
	}
	if s.penalised() {
		s.seen = make([]uint32, vocab)
	}
	return s, nil
}

// Params returns the sampler's parameters.
func (s *Sampler) Params() Params { return s.p }

// Reset restarts the random sequence from seed.
func (s *Sampler) Reset(seed uint64) { s.p.Seed, s.rng = seed, newRNG(seed) }

func (s *Sampler) penalised() bool { return s.p.RepeatPenalty != 0 && s.p.RepeatPenalty != 1 }

// Sample picks the next token. logits must hold the vocabulary's values
// and is modified in place when a repetition penalty is set; history is the
// sequence so far (prompt and generated ids), of which the last
// RepeatWindow ids are penalised. Ids in history outside the vocabulary are
// ignored. It panics if len(logits) differs from the vocabulary size, a
// programming error of the caller.
func (s *Sampler) Sample(logits []float32, history []int32) int32 {
	if len(logits) != s.vocab {
		panic(fmt.Sprintf("sample: %d logits for a vocabulary of %d", len(logits), s.vocab))
	}
	if s.penalised() {
		s.penalise(logits, history)
	}
	if s.p.Greedy() {
		return argmax(logits)
	}
	return s.draw(logits)
}

func argmax(x []float32) int32 {
	best, bv := 0, float32(math.Inf(-1))
	for i, v := range x {
		if v > bv {
			best, bv = i, v
		}
	}
	return int32(best)
}

func (s *Sampler) penalise(logits []float32, history []int32) {
	w := s.p.RepeatWindow
	if w == 0 {
		w = DefaultRepeatWindow
	}
	if len(history) > w {
		history = history[len(history)-w:]
	}
	s.stamp++
	if s.stamp == 0 {
		clear(s.seen)
		s.stamp = 1
	}
	pen := s.p.RepeatPenalty
	for _, t := range history {
		if t < 0 || int(t) >= s.vocab || s.seen[t] == s.stamp {
			continue
		}
		s.seen[t] = s.stamp
		if logits[t] > 0 {
			logits[t] /= pen
		} else {
			logits[t] *= pen
		}
	}
}

// draw applies temperature, top-k, min-p and top-p, then samples.
func (s *Sampler) draw(logits []float32) int32 {
	cand := s.idx[:0]
	sorted := false
	if k := s.p.TopK; k > 0 && k < s.vocab {
		cand = topK(s.idx[:k], logits)
		sorted = true
	} else {
		for i := range s.vocab {
			cand = append(cand, int32(i))
		}
	}
	mx := float32(math.Inf(-1))
	for _, t := range cand {
		mx = max(mx, logits[t])
	}
	if math.IsInf(float64(mx), -1) || math.IsNaN(float64(mx)) {
		return argmax(logits)
	}
	invT := 1 / s.p.Temperature
	var sum float32
	for _, t := range cand {
		e := float32(math.Exp(float64((logits[t] - mx) * invT)))
		s.prob[t] = e
		sum += e
	}
	// The best token has probability 1 before normalisation.
	if mp := s.p.MinP; mp > 0 {
		keep := cand[:0]
		sum = 0
		for _, t := range cand {
			if s.prob[t] >= mp {
				keep = append(keep, t)
				sum += s.prob[t]
			}
		}
		cand = keep
	}
	if tp := s.p.TopP; tp > 0 && tp < 1 && len(cand) > 1 {
		if !sorted {
			// Tokens below (1-p)/(n-1) of the mass can never be in the
			// nucleus (llama2.c's cut), which keeps the sort short.
			cut := (1 - tp) / float32(len(cand)-1) * sum
			keep := cand[:0]
			for _, t := range cand {
				if s.prob[t] >= cut {
					keep = append(keep, t)
				}
			}
			cand = keep
			prob := s.prob
			slices.SortFunc(cand, func(a, b int32) int {
				switch {
				case prob[a] > prob[b]:
					return -1
				case prob[a] < prob[b]:
					return 1
				}
				return int(a - b)
			})
		}
		target := tp * sum
		var cum float32
		for i, t := range cand {
			cum += s.prob[t]
			if cum >= target {
				cand = cand[:i+1]
				break
			}
		}
		sum = cum
	}
	r := s.rng.float() * sum
	var acc float32
	for _, t := range cand {
		acc += s.prob[t]
		if r < acc {
			return t
		}
	}
	return cand[len(cand)-1]
}

// topK fills heap (len k) with the k largest logits' ids, sorted best first.
func topK(heap []int32, logits []float32) []int32 {
	k := len(heap)
	less := func(a, b int32) bool { // a ranks below b
		if logits[a] != logits[b] {
			return logits[a] < logits[b]
		}
		return a > b
	}
	down := func(i, n int) {
		for {
			l := 2*i + 1
			if l >= n {
				return
			}
			if r := l + 1; r < n && less(heap[r], heap[l]) {
				l = r
			}
			if !less(heap[l], heap[i]) {
				return
			}
			heap[i], heap[l] = heap[l], heap[i]
			i = l
		}
	}
	for i := range k {
		heap[i] = int32(i)
	}
	for i := k/2 - 1; i >= 0; i-- {
		down(i, k)
	}
	for t := k; t < len(logits); t++ {
		if less(heap[0], int32(t)) {
			heap[0] = int32(t)
			down(0, k)
		}
	}
	// Heap sort: repeatedly move the smallest to the end → best first.
	for n := k - 1; n > 0; n-- {
		heap[0], heap[n] = heap[n], heap[0]
		down(0, n)
	}
	return heap
}
