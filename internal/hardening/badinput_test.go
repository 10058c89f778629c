package hardening_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/krserve/krserve/bus"
	"github.com/krserve/krserve/schemas"
	"github.com/nats-io/nats.go"
	"github.com/vmihailenco/msgpack/v5"
)

// raw encodes any value as msgpack without validation, to build messages
// the schemas package would refuse to write.
func raw(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := msgpack.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// gen is a generate request as a map, so single fields can be given absurd
// values or wrong types.
func gen(kv ...any) map[string]any {
	m := map[string]any{"v": 1, "prompt": "Once upon a time"}
	for i := 0; i+1 < len(kv); i += 2 {
		k := kv[i].(string)
		if kv[i+1] == nil {
			delete(m, k)
			continue
		}
		m[k] = kv[i+1]
	}
	return m
}

func nStrings(n int, s string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// publishGenerate sends payload on the generate subject with a fresh reply
// inbox and returns the first stream message (or the reader's error).
func publishGenerate(tb testing.TB, p *pipeline, payload []byte) (*schemas.StreamMsg, error) {
	tb.Helper()
	r, err := bus.SubscribeStream(p.nc, p.nc.NewInbox(), 15*time.Second, nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer r.Close()
	if err := p.nc.PublishRequest(bus.Subjects{}.Generate(), r.Subject(), payload); err != nil {
		return nil, bus.MapRequestError(bus.Subjects{}.Generate(), err)
	}
	return r.Next(context.Background())
}

// TestGenerateBadInput publishes malformed and absurd requests on the
// generate subject: every one gets a typed error stream with the right code,
// the tokenizer's reject counter counts it, and the pipeline still serves.
func TestGenerateBadInput(t *testing.T) {
	p := startPipeline(t, pipelineOpts{})
	long := strings.Repeat("the cat sat on the mat. ", 300) // fits the payload, not the context
	huge := strings.Repeat("a", schemas.MaxPromptBytes+1)   // over the prompt byte limit, under max_payload
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	for _, tc := range []struct {
		name    string
		payload []byte
		code    schemas.Code
	}{
		{"not msgpack", []byte{0xc1, 0xff, 0x00}, schemas.CodeBadRequest},
		{"empty payload", nil, schemas.CodeBadRequest},
		{"msgpack nil", raw(t, nil), schemas.CodeBadRequest},
		{"msgpack array", raw(t, []any{1, "prompt"}), schemas.CodeBadRequest},
		{"msgpack string", raw(t, "Once upon a time"), schemas.CodeBadRequest},
		{"truncated", raw(t, gen())[:5], schemas.CodeBadRequest},
		{"json instead of msgpack", []byte(`{"v":1,"prompt":"hi"}`), schemas.CodeBadRequest},
		{"no version", raw(t, gen("v", nil)), schemas.CodeBadRequest},
		{"future version", raw(t, gen("v", 2)), schemas.CodeBadRequest},
		{"version as string", raw(t, gen("v", "1")), schemas.CodeBadRequest},
		{"prompt as int", raw(t, gen("prompt", 42)), schemas.CodeBadRequest},
		{"prompt as map", raw(t, gen("prompt", map[string]int{"a": 1})), schemas.CodeBadRequest},
		{"max_tokens as string", raw(t, gen("max_tokens", "10")), schemas.CodeBadRequest},
		{"max_tokens overflows int32", raw(t, gen("max_tokens", int64(1)<<40)), schemas.CodeBadRequest},
		{"messages as string", raw(t, gen("prompt", nil, "messages", "hello")), schemas.CodeBadRequest},
		{"sampling as array", raw(t, gen("sampling", []int{1, 2})), schemas.CodeBadRequest},
		{"stop as int", raw(t, gen("stop", 7)), schemas.CodeBadRequest},
		{"empty prompt", raw(t, gen("prompt", "")), schemas.CodeBadRequest},
		{"prompt and messages", raw(t, gen("messages", []map[string]string{{"role": "user", "content": "x"}})), schemas.CodeBadRequest},
		{"unknown role", raw(t, gen("prompt", nil, "messages", []map[string]string{{"role": "wizard", "content": "x"}})), schemas.CodeBadRequest},
		{"prompt over the byte limit", raw(t, gen("prompt", huge)), schemas.CodeBadRequest},
		{"prompt over the context", raw(t, gen("prompt", long)), schemas.CodeTooLarge},
		{"invalid utf-8", raw(t, gen("prompt", "Once \xff\xfe upon \xc3\x28 a time")), schemas.CodeBadRequest},
		{"negative max tokens", raw(t, gen("max_tokens", -1)), schemas.CodeBadRequest},
		{"max tokens over the limit", raw(t, gen("max_tokens", schemas.MaxTokensLimit+1)), schemas.CodeBadRequest},
		{"max tokens over the context", raw(t, gen("max_tokens", 1<<19)), schemas.CodeBadRequest},
		{"top_p above 1", raw(t, gen("sampling", map[string]any{"top_p": float32(1.5)})), schemas.CodeBadRequest},
		{"top_p negative", raw(t, gen("sampling", map[string]any{"top_p": float32(-0.1)})), schemas.CodeBadRequest},
		{"temperature NaN", raw(t, gen("sampling", map[string]any{"temperature": nan})), schemas.CodeBadRequest},
		{"temperature +Inf", raw(t, gen("sampling", map[string]any{"temperature": inf})), schemas.CodeBadRequest},
		{"temperature 1e9", raw(t, gen("sampling", map[string]any{"temperature": float32(1e9)})), schemas.CodeBadRequest},
		{"negative top_k", raw(t, gen("sampling", map[string]any{"top_k": -5})), schemas.CodeBadRequest},
		{"min_p 2", raw(t, gen("sampling", map[string]any{"min_p": float32(2)})), schemas.CodeBadRequest},
		{"repetition penalty NaN", raw(t, gen("sampling", map[string]any{"repetition_penalty": nan})), schemas.CodeBadRequest},
		{"unknown model", raw(t, gen("model", "gpt-9")), schemas.CodeNotFound},
		{"10^5 stop strings", raw(t, gen("stop", nStrings(100_000, "x"))), schemas.CodeBadRequest},
		{"empty stop string", raw(t, gen("stop", []string{""})), schemas.CodeBadRequest},
		{"negative stop id", raw(t, gen("stop_ids", []int32{-3})), schemas.CodeBadRequest},
		{"priority 10^6", raw(t, gen("priority", 1_000_000)), schemas.CodeBadRequest},
		{"negative deadline", raw(t, gen("deadline_ms", -1)), schemas.CodeBadRequest},
		{"id with a dot", raw(t, gen("id", "a.b")), schemas.CodeBadRequest},
		{"conversation id with a wildcard", raw(t, gen("conversation_id", "conv.>")), schemas.CodeBadRequest},
		{"cache salt too long", raw(t, gen("cache_salt", strings.Repeat("s", 200))), schemas.CodeBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code := tc.code.String()
			before := counter(t, p.reg, "krserve_tokenizer_requests_rejected_total", map[string]string{"code": code})
			m, err := publishGenerate(t, p, tc.payload)
			if err != nil {
				t.Fatalf("want a typed error message, got reader error %v", err)
			}
			if m.Kind != schemas.KindError || m.Error == nil {
				t.Fatalf("want an error message, got %+v", m)
			}
			if m.Error.Code != tc.code || m.Error.Retryable != tc.code.Retryable() || m.Error.Message == "" {
				t.Fatalf("error %+v, want code %d (%s)", m.Error, tc.code, tc.code)
			}
			after := counter(t, p.reg, "krserve_tokenizer_requests_rejected_total", map[string]string{"code": code})
			if after != before+1 {
				t.Errorf("rejects{code=%s} %v → %v, want +1", code, before, after)
			}
		})
	}
	p.mustComplete(t, "bad generate requests")
}

// TestOverMaxPayload: a request larger than the server's max_payload fails
// at the producer with a typed too_large error, at once, and the
// connection stays usable.
func TestOverMaxPayload(t *testing.T) {
	p := startPipeline(t, pipelineOpts{})
	if mp := p.nc.MaxPayload(); mp != 1<<20 {
		t.Fatalf("server max_payload %d, the test assumes the 1 MiB default", mp)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		req  schemas.GenerateRequest
	}{
		{"10^6 stop strings", schemas.GenerateRequest{Prompt: "hi"}},
		{"2 MiB prompt", schemas.GenerateRequest{Prompt: strings.Repeat("ab", 1<<20)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Bypass Validate (which would refuse both) with a raw encoding.
			m := gen("prompt", tc.req.Prompt)
			if tc.name == "10^6 stop strings" {
				m["stop"] = nStrings(1_000_000, "x")
			}
			start := time.Now()
			_, err := publishGenerate(t, p, raw(t, m))
			if !errors.Is(err, schemas.ErrTooLarge) {
				t.Fatalf("err = %v, want too_large", err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v; an oversized payload must fail at once", d)
			}
		})
	}
	// The typed producer refuses too, before anything is sent.
	_, err := p.cl.Generate(ctx, &schemas.GenerateRequest{Prompt: "hi", Stop: nStrings(3, strings.Repeat("y", 200))})
	if err != nil {
		t.Fatalf("a normal request after oversized ones: %v", err)
	}
	if _, err := p.cl.Tokenize(ctx, nStrings(4000, strings.Repeat("z", 300)), false); !errors.Is(err, schemas.ErrTooLarge) {
		t.Errorf("oversized tokenize: %v, want too_large", err)
	}
	p.mustComplete(t, "oversized payloads")
}

// request sends payload on subject and returns the typed error of the reply
// (nil when the reply is not an error).
func request(tb testing.TB, nc *nats.Conn, subject string, payload []byte) error {
	tb.Helper()
	msg, err := nc.Request(subject, payload, 10*time.Second)
	if err != nil {
		return bus.MapRequestError(subject, err)
	}
	return bus.ServiceError(msg)
}

// TestTokenizeServiceBadInput covers the tokenize and detokenize endpoints.
func TestTokenizeServiceBadInput(t *testing.T) {
	p := startPipeline(t, pipelineOpts{})
	s := bus.Subjects{}
	vocab := p.st.Tokenizer.VocabSize()
	for _, tc := range []struct {
		name     string
		subject  string
		endpoint string
		payload  []byte
		code     schemas.Code // 0: must succeed
	}{
		{"tokenize garbage", s.Tokenize(), "tokenize", []byte{0xde, 0xad, 0xbe, 0xef}, schemas.CodeBadRequest},
		{"tokenize empty", s.Tokenize(), "tokenize", nil, schemas.CodeBadRequest},
		{"tokenize no texts", s.Tokenize(), "tokenize", raw(t, map[string]any{"v": 1}), schemas.CodeBadRequest},
		{"tokenize texts as int", s.Tokenize(), "tokenize", raw(t, map[string]any{"v": 1, "texts": 3}), schemas.CodeBadRequest},
		{"tokenize too many texts", s.Tokenize(), "tokenize", raw(t, map[string]any{"v": 1, "texts": nStrings(schemas.MaxBatchTexts+1, "a")}), schemas.CodeBadRequest},
		{"tokenize wrong version", s.Tokenize(), "tokenize", raw(t, map[string]any{"v": 9, "texts": []string{"a"}}), schemas.CodeBadRequest},
		{"tokenize invalid utf-8", s.Tokenize(), "tokenize", raw(t, map[string]any{"v": 1, "texts": []string{"\xff\xfe\xfd"}}), 0},
		{"detokenize garbage", s.Detokenize(), "detokenize", []byte{0x93, 0x01}, schemas.CodeBadRequest},
		{"detokenize ids as strings", s.Detokenize(), "detokenize", raw(t, map[string]any{"v": 1, "ids": []string{"a"}}), schemas.CodeBadRequest},
		{"detokenize negative id", s.Detokenize(), "detokenize", raw(t, map[string]any{"v": 1, "ids": [][]int32{{1, -1}}}), schemas.CodeBadRequest},
		{"detokenize id past the vocabulary", s.Detokenize(), "detokenize", raw(t, map[string]any{"v": 1, "ids": [][]int32{{int32(vocab)}}}), schemas.CodeBadRequest},
		{"detokenize id int32 max", s.Detokenize(), "detokenize", raw(t, map[string]any{"v": 1, "ids": [][]int32{{math.MaxInt32}}}), schemas.CodeBadRequest},
		{"detokenize id overflows int32", s.Detokenize(), "detokenize", raw(t, map[string]any{"v": 1, "ids": [][]int64{{1 << 40}}}), schemas.CodeBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			labels := map[string]string{"endpoint": tc.endpoint, "code": tc.code.String()}
			before := counter(t, p.reg, "krserve_tokenizer_service_rejected_total", labels)
			err := request(t, p.nc, tc.subject, tc.payload)
			if tc.code == 0 {
				if err != nil {
					t.Fatalf("want success, got %v", err)
				}
				return
			}
			var e *schemas.Error
			if !errors.As(err, &e) || e.Code != tc.code {
				t.Fatalf("err = %v, want code %d", err, tc.code)
			}
			if after := counter(t, p.reg, "krserve_tokenizer_service_rejected_total", labels); after != before+1 {
				t.Errorf("service rejects %v: %v → %v, want +1", labels, before, after)
			}
		})
	}
	// Still serving.
	ids, err := p.cl.Tokenize(context.Background(), []string{"Once upon a time"}, true)
	if err != nil || len(ids) != 1 || len(ids[0]) == 0 {
		t.Fatalf("tokenize after bad input: %v %v", ids, err)
	}
	p.mustComplete(t, "bad tokenize requests")
}

// TestEngineSubjectsBadInput publishes malformed and absurd engine requests
// straight on an engine's direct subject and its variant's queue subject,
// as a misbehaving router (or a producer with too many permissions) would.
func TestEngineSubjectsBadInput(t *testing.T) {
	p := startPipeline(t, pipelineOpts{})
	s := bus.Subjects{}
	inbox := p.nc.NewInbox()
	vocab := p.st.EngineCore[0].Model.Config().Vocab
	ctxLen := p.st.ContextLen
	er := func(kv ...any) []byte {
		m := map[string]any{"v": 1, "id": "r1", "prompt_ids": []int32{1, 400, 500}, "stream": inbox}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
			} else {
				m[kv[i].(string)] = kv[i+1]
			}
		}
		return raw(t, m)
	}
	longPrompt := make([]int32, ctxLen+10)
	for i := range longPrompt {
		longPrompt[i] = 5
	}
	cases := []struct {
		name    string
		payload []byte
		code    schemas.Code
	}{
		{"not msgpack", []byte{0xc1}, schemas.CodeBadRequest},
		{"empty", nil, schemas.CodeBadRequest},
		{"generate request instead", raw(t, gen()), schemas.CodeBadRequest},
		{"no stream subject", er("stream", nil), schemas.CodeBadRequest},
		{"wildcard stream subject", er("stream", "krserve.v1.tokens.>"), schemas.CodeBadRequest},
		{"no id", er("id", nil), schemas.CodeBadRequest},
		{"empty prompt ids", er("prompt_ids", []int32{}), schemas.CodeBadRequest},
		{"prompt ids as string", er("prompt_ids", "1 2 3"), schemas.CodeBadRequest},
		{"negative prompt id", er("prompt_ids", []int32{1, -7}), schemas.CodeBadRequest},
		{"prompt id past the vocabulary", er("prompt_ids", []int32{1, int32(vocab)}), schemas.CodeBadRequest},
		{"prompt id int32 max", er("prompt_ids", []int32{math.MaxInt32}), schemas.CodeBadRequest},
		{"prompt over the context", er("prompt_ids", longPrompt), schemas.CodeTooLarge},
		{"negative max tokens", er("max_tokens", -100), schemas.CodeBadRequest},
		{"temperature NaN", er("sampling", map[string]any{"temperature": float32(math.NaN())}), schemas.CodeBadRequest},
		{"top_p 7", er("sampling", map[string]any{"top_p": float32(7)}), schemas.CodeBadRequest},
		{"unknown model", er("model", "gpt-9"), schemas.CodeNotFound},
	}
	for _, subject := range []string{s.Engine("baseline", "e1"), s.EngineVariant("baseline")} {
		for _, tc := range cases {
			t.Run(subject+"/"+tc.name, func(t *testing.T) {
				labels := map[string]string{"code": tc.code.String()}
				before := counter(t, p.reg, "krserve_engine_requests_rejected_total", labels)
				err := request(t, p.nc, subject, tc.payload)
				var e *schemas.Error
				if !errors.As(err, &e) || e.Code != tc.code {
					t.Fatalf("err = %v, want code %d", err, tc.code)
				}
				if after := counter(t, p.reg, "krserve_engine_requests_rejected_total", labels); after != before+1 {
					t.Errorf("engine rejects %v: %v → %v, want +1", labels, before, after)
				}
			})
		}
	}
	p.mustComplete(t, "bad engine requests")
}

// TestEventSubjectsBadInput publishes garbage on the fire-and-forget
// subjects (cancel, KV events, heartbeats, metric windows): nobody answers,
// so the checks are that every worker stays up, routing still works, and
// each subscriber counts what it dropped.
func TestEventSubjectsBadInput(t *testing.T) {
	p := startPipeline(t, pipelineOpts{engines: 2, controller: true})
	s := bus.Subjects{}
	junk := [][]byte{
		{0xc1}, nil, raw(t, "x"), raw(t, []int{1, 2}), raw(t, map[string]any{"v": 1, "worker": 7}),
		bytes.Repeat([]byte{0xdc, 0xff, 0xff}, 1000), // array headers claiming 65535 elements each
	}
	type sub struct {
		subject string
		metric  string
		labels  map[string]string
	}
	subs := []sub{
		{s.Cancel("r1"), "krserve_engine_bad_messages_total", map[string]string{"subject": "cancel"}},
		{s.KV("e1"), "krserve_tokenizer_bad_messages_total", map[string]string{"subject": "kv"}},
		{s.KV("ghost"), "krserve_tokenizer_bad_messages_total", map[string]string{"subject": "kv"}},
		{s.Heartbeat("engine", "e1"), "krserve_tokenizer_bad_messages_total", map[string]string{"subject": "heartbeat"}},
		{s.Heartbeat("engine", "ghost"), "krserve_tokenizer_bad_messages_total", map[string]string{"subject": "heartbeat"}},
		{s.Metrics("baseline", "e1"), "krserve_controller_bad_metric_events_total", map[string]string{"reason": "decode"}},
		{s.Metrics("canary", "ghost"), "krserve_controller_bad_metric_events_total", map[string]string{"reason": "decode"}},
	}
	// Each subscriber sees each message once per subscribing worker: the
	// engines (2) for cancel, the tokenizer (1) for KV and heartbeats, the
	// controller (1) for metrics.
	per := map[string]float64{"krserve_engine_bad_messages_total": 2, "krserve_tokenizer_bad_messages_total": 1, "krserve_controller_bad_metric_events_total": 1}
	for _, sb := range subs {
		before := counter(t, p.reg, sb.metric, sb.labels)
		for _, j := range junk {
			if err := p.nc.Publish(sb.subject, j); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.nc.Flush(); err != nil {
			t.Fatal(err)
		}
		want := before + per[sb.metric]*float64(len(junk))
		waitFor(t, 5*time.Second, sb.subject+" drops counted", func() bool { return counter(t, p.reg, sb.metric, sb.labels) >= want })
	}
	// Valid but hostile events: a heartbeat of an unknown worker and a KV
	// batch for it must not make the router send work to a ghost (the
	// request would fail with no_worker after the forward timeout).
	hb := schemas.Heartbeat{V: 1, Role: "engine", Worker: "ghost", Variant: "baseline", State: schemas.StateReady, IntervalMs: 60_000,
		QueueCap: 1 << 20, FreeBlocks: 1 << 20, TotalBlocks: 1 << 20, BlockSize: 16, Subject: s.Engine("baseline", "ghost")}
	b, err := schemas.Encode(&hb)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.nc.Publish(s.Heartbeat("engine", "ghost"), b); err != nil {
		t.Fatal(err)
	}
	if err := p.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 8; i++ {
		p.mustComplete(t, "garbage events")
	}
	if p.st.Draining() {
		t.Error("a worker is draining after garbage events")
	}
}
