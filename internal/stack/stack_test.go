package stack

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/krserve/krserve/bus"
	"github.com/krserve/krserve/bus/client"
	"github.com/krserve/krserve/config"
	"github.com/krserve/krserve/engined/llama"
	"github.com/krserve/krserve/engined/sample"
	"github.com/krserve/krserve/internal/testenv"
	"github.com/krserve/krserve/schemas"
	"github.com/krserve/krserve/tokenizerd/tokenizer"
	"github.com/nats-io/nats.go"
)

func startStack(t *testing.T, engines []EngineSpec, tokenizers int, ignoreKV bool) (*Stack, *client.Client) {
	t.Helper()
	srv, nc := testenv.NATS(t)
	st, err := Start(Config{
		Model: testenv.SharedFile(t, "models/stories260K.gguf"), ModelName: "stories260k",
		Engines: engines, Tokenizers: tokenizers, Runtime: config.DefaultRuntime(), IgnoreKV: ignoreKV,
		Heartbeat: 100 * time.Millisecond, Metrics: 200 * time.Millisecond, Drain: 10 * time.Second,
		Connect: func(name string) (*nats.Conn, error) { return srv.Connect(name, bus.ConnDeps{}) },
	}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Stop(); err != nil {
			t.Error(err)
		}
	})
	want := map[string]int{}
	for _, e := range engines {
		want[e.Variant]++
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := st.WaitReady(ctx, want); err != nil {
		t.Fatal(err)
	}
	return st, client.New(nc, client.Options{IdleTimeout: 30 * time.Second})
}

func engines(n int) []EngineSpec {
	out := make([]EngineSpec, n)
	for i := range out {
		out[i] = EngineSpec{ID: fmt.Sprintf("e%d", i+1), Variant: "baseline"}
	}
	return out
}

// inProcess generates the same prompt the way `krserve run` does.
func inProcess(t *testing.T, prompt string, n int) (string, []int32) {
	t.Helper()
	path := testenv.SharedFile(t, "models/stories260K.gguf")
	m, err := llama.Load(path, llama.WithBackend("native", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tok, err := tokenizer.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	smp, _ := sample.New(sample.Params{}, m.Config().Vocab)
	ids := tok.Encode(prompt, tokenizer.EncodeOptions{AddBOS: tok.DefaultAddBOS()})
	g, err := m.Generate(context.Background(), ids, smp, llama.GenerateOptions{MaxTokens: n}, func(int32) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	return tok.Decode(g.IDs), g.IDs
}

func TestPipelineEqualsInProcess(t *testing.T) {
	_, c := startStack(t, engines(1), 1, false)
	ctx := context.Background()
	for _, prompt := range []string{"Once upon a time", "Lily and Tom went to the park."} {
		got, err := c.Complete(ctx, &schemas.GenerateRequest{Prompt: prompt, MaxTokens: 60})
		if err != nil {
			t.Fatal(err)
		}
		wantText, wantIDs := inProcess(t, prompt, 60)
		if !slices.Equal(got.IDs, wantIDs) || got.Text != wantText {
			t.Errorf("pipeline output differs for %q:\n got %q\nwant %q", prompt, got.Text, wantText)
		}
		if got.Final.Usage.GeneratedTokens != int32(len(wantIDs)) || got.Final.Timings.TTFTUs <= 0 {
			t.Errorf("final: %+v %+v", got.Final.Usage, got.Final.Timings)
		}
	}
}

func TestConcurrentConversations(t *testing.T) {
	st, c := startStack(t, engines(3), 2, false)
	ctx := context.Background()
	const convs, turns = 10, 5
	var wg sync.WaitGroup
	type turnResult struct {
		worker string
		cached int32
		prompt int32
	}
	results := make([][]turnResult, convs)
	errs := make(chan error, convs*turns)
	for ci := 0; ci < convs; ci++ {
		wg.Add(1)
		go func(ci int) {
			defer wg.Done()
			msgs := []schemas.ChatMessage{{Role: "user", Content: fmt.Sprintf("Tell story %d about a cat.", ci)}}
			for turn := 0; turn < turns; turn++ {
				got, err := c.Complete(ctx, &schemas.GenerateRequest{Messages: msgs, ConversationID: fmt.Sprintf("conv-%d", ci), MaxTokens: 20})
				if err != nil {
					errs <- fmt.Errorf("conv %d turn %d: %w", ci, turn, err)
					return
				}
				results[ci] = append(results[ci], turnResult{got.Final.Worker, got.Final.Usage.CachedTokens, got.Final.Usage.PromptTokens})
				msgs = append(msgs, schemas.ChatMessage{Role: "assistant", Content: got.Text}, schemas.ChatMessage{Role: "user", Content: "And then?"})
			}
		}(ci)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	// Turn N must land where turn N-1's blocks are: its cached tokens cover
	// the previous prompt (all but a partial block). The load bound may move
	// a few turns off a crowded worker; at least 90 % must stay.
	workers := map[string]bool{}
	stayed, later := 0, 0
	for ci, rs := range results {
		if len(rs) != turns {
			t.Fatalf("conv %d finished %d turns", ci, len(rs))
		}
		workers[rs[0].worker] = true
		for turn := 1; turn < turns; turn++ {
			later++
			if rs[turn].cached == 0 {
				t.Errorf("conv %d turn %d: no cached tokens (prompt %d)", ci, turn, rs[turn].prompt)
			}
			if rs[turn].worker == rs[turn-1].worker && rs[turn].cached >= rs[turn-1].prompt-16 {
				stayed++
			}
		}
	}
	if stayed*10 < later*9 {
		for ci, rs := range results {
			t.Logf("conv %d: %+v", ci, rs)
		}
		t.Errorf("only %d of %d later turns reused their conversation's blocks on the same worker", stayed, later)
	}
	if len(workers) < 2 {
		t.Errorf("10 conversations all landed on %v", workers)
	}
	_ = st
}

func TestFiftyConcurrentRequests(t *testing.T) {
	_, c := startStack(t, engines(2), 1, false)
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			got, err := c.Complete(ctx, &schemas.GenerateRequest{Prompt: fmt.Sprintf("Once upon a time %d", i%7), ConversationID: fmt.Sprintf("c%d", i%10), MaxTokens: 16})
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			if got.Final.Usage.GeneratedTokens == 0 {
				t.Errorf("request %d generated nothing", i)
			}
			mu.Lock()
			done++
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	if done != 50 {
		t.Errorf("%d of 50 completed", done)
	}
}

func TestRoutingWithoutKVEvents(t *testing.T) {
	_, c := startStack(t, engines(2), 1, true)
	ctx := context.Background()
	first := ""
	for turn := 0; turn < 3; turn++ {
		got, err := c.Complete(ctx, &schemas.GenerateRequest{Prompt: "Once upon a time there was a dog named Max who liked to run.", ConversationID: "solo", MaxTokens: 8})
		if err != nil {
			t.Fatal(err)
		}
		if first == "" {
			first = got.Final.Worker
		} else if got.Final.Worker != first {
			t.Errorf("without KV events, affinity must keep the conversation on %s; got %s", first, got.Final.Worker)
		}
	}
}

func TestBadRequestsGetTypedErrors(t *testing.T) {
	st, c := startStack(t, engines(1), 1, false)
	ctx := context.Background()
	long := make([]byte, 0, 8000)
	for len(long) < 7000 {
		long = append(long, "the cat sat on the mat. "...)
	}
	for _, tc := range []struct {
		name string
		req  schemas.GenerateRequest
		code schemas.Code
	}{
		{"unknown model", schemas.GenerateRequest{Prompt: "hi", Model: "gpt-9"}, schemas.CodeNotFound},
		{"prompt too long", schemas.GenerateRequest{Prompt: string(long)}, schemas.CodeTooLarge},
		{"max tokens beyond context", schemas.GenerateRequest{Prompt: "hi", MaxTokens: int32(st.ContextLen)}, schemas.CodeBadRequest},
		{"llama2 roles", schemas.GenerateRequest{Messages: []schemas.ChatMessage{{Role: "assistant", Content: "x"}}}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Complete(ctx, &tc.req)
			if tc.code == 0 {
				return // template-dependent; must simply not hang or crash
			}
			var e *schemas.Error
			if !errors.As(err, &e) || e.Code != tc.code {
				t.Errorf("err = %v, want code %d", err, tc.code)
			}
		})
	}
	// Malformed msgpack on the generate subject gets a typed error on the reply.
	nc := st.conns[0]
	r, err := bus.SubscribeStream(nc, nc.NewInbox(), 10*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := nc.PublishRequest(bus.Subjects{}.Generate(), r.Subject(), []byte{0xc1, 0xff}); err != nil {
		t.Fatal(err)
	}
	m, err := r.Next(ctx)
	if err != nil || m.Kind != schemas.KindError || m.Error.Code != schemas.CodeBadRequest {
		t.Errorf("garbage: %+v %v", m, err)
	}
	// The pipeline still serves after the bad input.
	if _, err := c.Complete(ctx, &schemas.GenerateRequest{Prompt: "Once", MaxTokens: 4}); err != nil {
		t.Errorf("after bad input: %v", err)
	}
}
