package abtest

import (
	"context"
	"fmt"
	"sync"

	"github.com/krserve/krserve/bus/client"
	"github.com/krserve/krserve/schemas"
)

// Sender runs one generation request to its end on one variant.
// *client.Client is one.
type Sender interface {
	Complete(ctx context.Context, req *schemas.GenerateRequest) (*client.Completion, error)
}

// DefaultMessages are the user messages of the built-in chats, cycled.
var DefaultMessages = []string{
	"Tell me a story about a little dog who found a red ball.",
	"What did the dog do next?",
	"Then a girl named Lily came to the park. What happened?",
	"Did they become friends?",
	"Tell me how the day ended.",
	"Now tell a story about a boy who wanted to fly a kite.",
	"Was the wind strong enough?",
	"What did his mother say when he came home?",
	"Write a short story about a cat and a bird in a tree.",
	"Why was the bird sad?",
	"How did the cat help?",
	"What is the lesson of the story?",
}

// Workload is what Run sends to both variants.
type Workload struct {
	// Samples is the number of measured requests per variant.
	Samples int
	// Turns per conversation; turn t's prompt holds the t−1 turns before.
	Turns int
	// MaxTokens generated per reply.
	MaxTokens int
	// Concurrency is the number of conversations in flight.
	Concurrency int
	// Warmup requests per variant run first and are not measured.
	Warmup int
	// Messages are the user messages, cycled (nil = DefaultMessages).
	Messages []string
	// BaselineVariant and CandidateVariant, when set, are the variant
	// names the final messages must carry (ErrWrongVariant otherwise).
	BaselineVariant, CandidateVariant string
}

// DefaultWorkload is 1000 requests per variant in 5-turn chats of 16-token
// replies, one conversation at a time, after 4 warm-up requests.
func DefaultWorkload() Workload {
	return Workload{Samples: 1000, Turns: 5, MaxTokens: 16, Concurrency: 1, Warmup: 4}
}

// Validate reports the first field out of range, wrapping ErrBadWorkload.
func (w Workload) Validate() error {
	switch {
	case w.Samples < 1 || w.Samples > 1_000_000:
		return fmt.Errorf("%w: samples = %d, want 1 to 1000000", ErrBadWorkload, w.Samples)
	case w.Turns < 1 || w.Turns > 64:
		return fmt.Errorf("%w: turns = %d, want 1 to 64", ErrBadWorkload, w.Turns)
	case w.MaxTokens < 1 || w.MaxTokens > schemas.MaxTokensLimit:
		return fmt.Errorf("%w: max tokens = %d, want 1 to %d", ErrBadWorkload, w.MaxTokens, schemas.MaxTokensLimit)
	case w.Concurrency < 1 || w.Concurrency > 1024:
		return fmt.Errorf("%w: concurrency = %d, want 1 to 1024", ErrBadWorkload, w.Concurrency)
	case w.Warmup < 0 || w.Warmup > 1000:
		return fmt.Errorf("%w: warmup = %d, want 0 to 1000", ErrBadWorkload, w.Warmup)
	}
	for i, m := range w.Messages {
		if m == "" {
			return fmt.Errorf("%w: message %d is empty", ErrBadWorkload, i)
		}
	}
	return nil
}

// Deps are Run's collaborators.
type Deps struct {
	Baseline, Candidate Sender
	// Progress, if set, is called after each measured request with the
	// requests done and the total (2 × Samples).
	Progress func(done, total int)
}

// Outcome is one measured request.
type Outcome struct {
	Conversation, Turn int // from 0
	Variant            string
	TTFTMs, TotalMs    float64
	// TokensPerS is the decode throughput; 0 for fewer than 2 tokens.
	TokensPerS                                  float64
	PromptTokens, CachedTokens, GeneratedTokens int
	// Err is the request's failure (nil = served).
	Err error
}

// Observations are the measured requests of both variants, in sending
// order per conversation.
type Observations struct {
	Baseline, Candidate []Outcome
}

// Run sends w to both variants as the package documentation describes and
// returns every measured request. A failed request is an Outcome with Err
// set (it counts towards the error rate); Run itself fails only on invalid
// input, a cancelled ctx, a failed warm-up or ErrWrongVariant.
func Run(ctx context.Context, w Workload, d Deps) (*Observations, error) {
	if err := w.Validate(); err != nil {
		return nil, err
	}
	if d.Baseline == nil || d.Candidate == nil {
		return nil, fmt.Errorf("%w: both senders are required", ErrBadWorkload)
	}
	msgs := w.Messages
	if len(msgs) == 0 {
		msgs = DefaultMessages
	}
	for i := range w.Warmup {
		for _, v := range []struct {
			s    Sender
			want string
		}{{d.Baseline, w.BaselineVariant}, {d.Candidate, w.CandidateVariant}} {
			req := &schemas.GenerateRequest{Prompt: fmt.Sprintf("Warm-up %d. %s", i, msgs[i%len(msgs)]), MaxTokens: int32(w.MaxTokens)}
			got, err := v.s.Complete(ctx, req)
			if err != nil {
				return nil, fmt.Errorf("abtest: warm-up: %w", err)
			}
			if v.want != "" && got.Final.Variant != v.want {
				return nil, fmt.Errorf("%w: warm-up sent to %q served by %q", ErrWrongVariant, v.want, got.Final.Variant)
			}
		}
	}
	convs := (w.Samples + w.Turns - 1) / w.Turns
	r := &runner{w: w, d: d, msgs: msgs, total: 2 * w.Samples, res: make([]convResult, convs)}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	var wg sync.WaitGroup
	var errOnce sync.Once
	var fatal error
	for range min(w.Concurrency, convs) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range next {
				if err := r.conversation(ctx, c); err != nil {
					errOnce.Do(func() { fatal = err; cancel() })
				}
			}
		}()
	}
feed:
	for c := range convs {
		select {
		case next <- c:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if fatal != nil {
		return nil, fatal
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o := &Observations{}
	for _, cr := range r.res {
		o.Baseline = append(o.Baseline, cr.baseline...)
		o.Candidate = append(o.Candidate, cr.candidate...)
	}
	return o, nil
}

type convResult struct{ baseline, candidate []Outcome }

type runner struct {
	w    Workload
	d    Deps
	msgs []string
	res  []convResult

	mu    sync.Mutex
	done  int
	total int
}

func (r *runner) step() {
	if r.d.Progress == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.done++
	r.d.Progress(r.done, r.total)
}

// conversation runs conversation c on both variants, turn by turn.
func (r *runner) conversation(ctx context.Context, c int) error {
	turns := min(r.w.Turns, r.w.Samples-c*r.w.Turns)
	var history []schemas.ChatMessage
	id := fmt.Sprintf("abtest-%d", c)
	for t := range turns {
		msg := r.msgs[(c*r.w.Turns+t)%len(r.msgs)]
		if t == 0 {
			// Conversations differ from their first token on, so a pool
			// shares nothing between them but the chat template's prefix.
			msg = fmt.Sprintf("(%d) %s", c, msg)
		}
		history = append(history, schemas.ChatMessage{Role: "user", Content: msg})
		order := []int{0, 1}
		if (c+t)%2 == 1 {
			order = []int{1, 0}
		}
		var replies [2]string
		var ok [2]bool
		for _, k := range order {
			s, want := r.d.Baseline, r.w.BaselineVariant
			if k == 1 {
				s, want = r.d.Candidate, r.w.CandidateVariant
			}
			req := &schemas.GenerateRequest{Messages: append([]schemas.ChatMessage(nil), history...), ConversationID: id, MaxTokens: int32(r.w.MaxTokens)}
			got, err := s.Complete(ctx, req)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			out := Outcome{Conversation: c, Turn: t, Variant: want}
			if err == nil {
				out.Variant = got.Final.Variant
				if want != "" && out.Variant != want {
					return fmt.Errorf("%w: conversation %d turn %d sent to %q served by %q", ErrWrongVariant, c, t, want, out.Variant)
				}
				fill(&out, got.Final)
				replies[k], ok[k] = got.Text, true
			} else {
				out.Err = err
			}
			if k == 0 {
				r.res[c].baseline = append(r.res[c].baseline, out)
			} else {
				r.res[c].candidate = append(r.res[c].candidate, out)
			}
			r.step()
		}
		reply := "…"
		switch {
		case ok[0]:
			reply = replies[0]
		case ok[1]:
			reply = replies[1]
		}
		history = append(history, schemas.ChatMessage{Role: "assistant", Content: reply})
	}
	return nil
}

// fill copies the final message's usage and timings into o.
func fill(o *Outcome, f *schemas.StreamMsg) {
	if f.Usage != nil {
		o.PromptTokens, o.CachedTokens, o.GeneratedTokens = int(f.Usage.PromptTokens), int(f.Usage.CachedTokens), int(f.Usage.GeneratedTokens)
	}
	if f.Timings != nil {
		o.TTFTMs = float64(f.Timings.TTFTUs) / 1000
		o.TotalMs = float64(f.Timings.TotalUs) / 1000
		if decode := f.Timings.TotalUs - f.Timings.TTFTUs; o.GeneratedTokens >= 2 && decode > 0 {
			o.TokensPerS = float64(o.GeneratedTokens-1) * 1e6 / float64(decode)
		}
	}
}

// ValuesOf turns outcomes into the samples Analyze compares.
func ValuesOf(outs []Outcome) Values {
	var v Values
	for _, o := range outs {
		v.Requests++
		if o.Err != nil {
			v.Errors++
			continue
		}
		v.TTFT = append(v.TTFT, o.TTFTMs)
		v.Total = append(v.Total, o.TotalMs)
		if o.TokensPerS > 0 {
			v.Throughput = append(v.Throughput, o.TokensPerS)
		}
	}
	return v
}

// TurnStat summarizes one turn position across conversations.
type TurnStat struct {
	Turn                int // from 1
	Baseline, Candidate TurnSide
}

// TurnSide is one variant's served requests at one turn: means.
type TurnSide struct {
	N                                  int
	TTFTMs, PromptTokens, CachedTokens float64
}

// ByTurn summarizes the served requests by turn.
func (o *Observations) ByTurn() []TurnStat {
	var out []TurnStat
	add := func(outs []Outcome, side func(*TurnStat) *TurnSide) {
		for _, x := range outs {
			for len(out) <= x.Turn {
				out = append(out, TurnStat{Turn: len(out) + 1})
			}
			if x.Err != nil {
				continue
			}
			s := side(&out[x.Turn])
			s.N++
			s.TTFTMs += x.TTFTMs
			s.PromptTokens += float64(x.PromptTokens)
			s.CachedTokens += float64(x.CachedTokens)
		}
	}
	add(o.Baseline, func(t *TurnStat) *TurnSide { return &t.Baseline })
	add(o.Candidate, func(t *TurnStat) *TurnSide { return &t.Candidate })
	for i := range out {
		for _, s := range []*TurnSide{&out[i].Baseline, &out[i].Candidate} {
			if s.N > 0 {
				n := float64(s.N)
				s.TTFTMs, s.PromptTokens, s.CachedTokens = s.TTFTMs/n, s.PromptTokens/n, s.CachedTokens/n
			}
		}
	}
	return out
}
