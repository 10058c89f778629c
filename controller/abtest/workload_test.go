package abtest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/krserve/krserve/bus/client"
	"github.com/krserve/krserve/schemas"
)

// recorder is a Sender that answers from a script and records what it got
// in a shared log, so a test can check the order across both variants.
type recorder struct {
	name    string
	variant string // reported in the final message
	log     *callLog
	fail    func(req *schemas.GenerateRequest) bool
}

type callLog struct {
	mu    sync.Mutex
	calls []call
}

type call struct {
	sender string
	req    *schemas.GenerateRequest
}

func (r *recorder) Complete(_ context.Context, req *schemas.GenerateRequest) (*client.Completion, error) {
	r.log.mu.Lock()
	r.log.calls = append(r.log.calls, call{r.name, req})
	r.log.mu.Unlock()
	if r.fail != nil && r.fail(req) {
		return nil, &schemas.Error{Code: schemas.CodeOverloaded, Message: "test"}
	}
	turn := (len(req.Messages) + 1) / 2
	return &client.Completion{Text: fmt.Sprintf("%s reply %d", r.name, turn), Final: &schemas.StreamMsg{Kind: schemas.KindFinal, Variant: r.variant,
		Usage:   &schemas.Usage{PromptTokens: int32(10 * turn), CachedTokens: int32(5 * (turn - 1)), GeneratedTokens: 5},
		Timings: &schemas.Timings{TTFTUs: int64(1000 * turn), TotalUs: int64(1000*turn + 4000)}}}, nil
}

func pair(log *callLog) (*recorder, *recorder) {
	return &recorder{name: "b", variant: "baseline", log: log}, &recorder{name: "c", variant: "candidate", log: log}
}

func TestRunInterleavesSamePrompts(t *testing.T) {
	log := &callLog{}
	b, c := pair(log)
	w := Workload{Samples: 7, Turns: 3, MaxTokens: 5, Concurrency: 1, Warmup: 1, BaselineVariant: "baseline", CandidateVariant: "candidate"}
	var progress []int
	obs, err := Run(context.Background(), w, Deps{Baseline: b, Candidate: c, Progress: func(done, total int) {
		if total != 14 {
			t.Errorf("progress total %d, want 14", total)
		}
		progress = append(progress, done)
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(obs.Baseline) != 7 || len(obs.Candidate) != 7 || len(progress) != 14 || progress[13] != 14 {
		t.Fatalf("%d/%d outcomes, progress %v", len(obs.Baseline), len(obs.Candidate), progress)
	}
	calls := log.calls[2:] // after the warm-up pair
	if len(calls) != 14 {
		t.Fatalf("%d measured calls", len(calls))
	}
	// Conversations of 3, 3 and 1 turns; each turn a pair with the same
	// prompt, the first sender alternating with conversation + turn.
	turnsOf := []int{3, 3, 1}
	k := 0
	for conv, n := range turnsOf {
		for turn := range n {
			x, y := calls[k], calls[k+1]
			k += 2
			wantFirst := "b"
			if (conv+turn)%2 == 1 {
				wantFirst = "c"
			}
			if x.sender != wantFirst || y.sender == x.sender {
				t.Errorf("conv %d turn %d: order %s,%s, want %s first", conv, turn, x.sender, y.sender, wantFirst)
			}
			if fmt.Sprint(x.req.Messages) != fmt.Sprint(y.req.Messages) || x.req.ConversationID != y.req.ConversationID {
				t.Errorf("conv %d turn %d: prompts differ:\n%v\n%v", conv, turn, x.req.Messages, y.req.Messages)
			}
			if len(x.req.Messages) != 2*turn+1 {
				t.Errorf("conv %d turn %d: %d messages", conv, turn, len(x.req.Messages))
			}
			// The history carries the baseline's replies.
			for i, m := range x.req.Messages {
				if m.Role == "assistant" && m.Content != fmt.Sprintf("b reply %d", (i+1)/2) {
					t.Errorf("conv %d turn %d: history message %d is %q", conv, turn, i, m.Content)
				}
			}
			if !strings.HasPrefix(x.req.Messages[0].Content, fmt.Sprintf("(%d) ", conv)) {
				t.Errorf("conv %d first message %q is not tagged", conv, x.req.Messages[0].Content)
			}
		}
	}
	o := obs.Candidate[2]
	if o.Turn != 2 || o.TTFTMs != 3 || o.TotalMs != 7 || o.TokensPerS != 1000 || o.CachedTokens != 10 || o.Variant != "candidate" {
		t.Errorf("outcome %+v", o)
	}
	turns := obs.ByTurn()
	if len(turns) != 3 || turns[0].Baseline.N != 3 || turns[2].Candidate.N != 2 || turns[1].Candidate.CachedTokens != 5 || turns[2].Baseline.TTFTMs != 3 {
		t.Errorf("by turn %+v", turns)
	}
}

func TestRunCountsFailures(t *testing.T) {
	log := &callLog{}
	b, c := pair(log)
	var n atomic.Int64
	c.fail = func(req *schemas.GenerateRequest) bool {
		return req.Prompt == "" && n.Add(1)%4 == 0 // not the warm-up
	}
	obs, err := Run(context.Background(), Workload{Samples: 40, Turns: 4, MaxTokens: 5, Concurrency: 3}, Deps{Baseline: b, Candidate: c})
	if err != nil {
		t.Fatal(err)
	}
	v := ValuesOf(obs.Candidate)
	if v.Requests != 40 || v.Errors != 10 || len(v.TTFT) != 30 || len(v.Throughput) != 30 {
		t.Errorf("candidate values: %d requests %d errors %d ttft", v.Requests, v.Errors, len(v.TTFT))
	}
	if bv := ValuesOf(obs.Baseline); bv.Errors != 0 || bv.Requests != 40 {
		t.Errorf("baseline %d/%d", bv.Errors, bv.Requests)
	}
}

func TestRunErrors(t *testing.T) {
	log := &callLog{}
	b, c := pair(log)
	ok := Workload{Samples: 4, Turns: 2, MaxTokens: 4, Concurrency: 2}
	wrong := ok
	wrong.BaselineVariant, wrong.CandidateVariant = "baseline", "canary"
	failingWarmup := &recorder{name: "c", variant: "candidate", log: log, fail: func(*schemas.GenerateRequest) bool { return true }}
	withWarmup := ok
	withWarmup.Warmup = 1
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		w    Workload
		d    Deps
		want error
	}{
		{"no samples", context.Background(), Workload{Turns: 1, MaxTokens: 1, Concurrency: 1}, Deps{Baseline: b, Candidate: c}, ErrBadWorkload},
		{"no turns", context.Background(), Workload{Samples: 1, MaxTokens: 1, Concurrency: 1}, Deps{Baseline: b, Candidate: c}, ErrBadWorkload},
		{"no tokens", context.Background(), Workload{Samples: 1, Turns: 1, Concurrency: 1}, Deps{Baseline: b, Candidate: c}, ErrBadWorkload},
		{"no concurrency", context.Background(), Workload{Samples: 1, Turns: 1, MaxTokens: 1}, Deps{Baseline: b, Candidate: c}, ErrBadWorkload},
		{"negative warm-up", context.Background(), Workload{Samples: 1, Turns: 1, MaxTokens: 1, Concurrency: 1, Warmup: -1}, Deps{Baseline: b, Candidate: c}, ErrBadWorkload},
		{"empty message", context.Background(), Workload{Samples: 1, Turns: 1, MaxTokens: 1, Concurrency: 1, Messages: []string{""}}, Deps{Baseline: b, Candidate: c}, ErrBadWorkload},
		{"no sender", context.Background(), ok, Deps{Baseline: b}, ErrBadWorkload},
		{"wrong variant", context.Background(), wrong, Deps{Baseline: b, Candidate: c}, ErrWrongVariant},
		{"failed warm-up", context.Background(), withWarmup, Deps{Baseline: b, Candidate: failingWarmup}, schemas.ErrOverloaded},
		{"cancelled", cancelled, ok, Deps{Baseline: b, Candidate: c}, context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Run(tc.ctx, tc.w, tc.d)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}
