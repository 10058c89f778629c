package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/krserve/krserve/schemas"
)

type chatResp struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Index   int `json:"index"`
		Message struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"message"`
		Text         string  `json:"text"`
		FinishReason *string `json:"finish_reason"`
		Delta        *struct {
			Role    string  `json:"role"`
			Content *string `json:"content"`
		} `json:"delta"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens        int32 `json:"prompt_tokens"`
		CompletionTokens    int32 `json:"completion_tokens"`
		TotalTokens         int32 `json:"total_tokens"`
		PromptTokensDetails struct {
			CachedTokens int32 `json:"cached_tokens"`
		} `json:"prompt_tokens_details"`
	} `json:"usage"`
	Krserve *extension `json:"krserve"`
}

type errResp struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

var story = []map[string]string{{"role": "user", "content": "Tell me a story about a cat."}}

func TestChatCompletionMatchesPipeline(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	want, err := h.client.Complete(context.Background(), &schemas.GenerateRequest{
		Messages: []schemas.ChatMessage{{Role: "user", Content: story[0]["content"]}}, MaxTokens: 30})
	if err != nil {
		t.Fatal(err)
	}
	for turn := 0; turn < 2; turn++ {
		r := decode[chatResp](t, h.post(t, "/v1/chat/completions", map[string]any{
			"model": modelName, "messages": story, "temperature": 0, "max_tokens": 30, "user": "alice"}), http.StatusOK)
		if r.Object != "chat.completion" || !strings.HasPrefix(r.ID, "chatcmpl-") || r.Model != modelName || r.Created != fixedNow.Unix() {
			t.Errorf("envelope: %+v", r)
		}
		if len(r.Choices) != 1 || r.Choices[0].Message.Role != "assistant" || *r.Choices[0].FinishReason != string(want.Final.FinishReason) {
			t.Fatalf("choices: %+v", r.Choices)
		}
		if got := r.Choices[0].Message.Content; got != want.Text {
			t.Errorf("turn %d content %q, want the pipeline's greedy output %q", turn, got, want.Text)
		}
		u := r.Usage
		if u.CompletionTokens != want.Final.Usage.GeneratedTokens || u.PromptTokens != want.Final.Usage.PromptTokens || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
			t.Errorf("usage %+v, pipeline %+v", *u, *want.Final.Usage)
		}
		// The same prompt already ran through the pipeline: its KV is cached.
		if u.PromptTokensDetails.CachedTokens == 0 || u.PromptTokensDetails.CachedTokens > u.PromptTokens {
			t.Errorf("repeated prompt: cached_tokens %d of %d", u.PromptTokensDetails.CachedTokens, u.PromptTokens)
		}
		if r.Krserve == nil || r.Krserve.Worker != "e1" || r.Krserve.TTFTMs <= 0 || "chatcmpl-"+r.Krserve.RequestID != r.ID {
			t.Errorf("krserve extension: %+v", r.Krserve)
		}
	}
}

func TestCompletionsAndEcho(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	const prompt = "Once upon a time"
	want, err := h.client.Complete(context.Background(), &schemas.GenerateRequest{Prompt: prompt, MaxTokens: 12})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		body map[string]any
		text string
	}{
		{"string prompt", map[string]any{"prompt": prompt, "max_tokens": 12, "temperature": 0}, want.Text},
		{"array prompt, max_completion_tokens", map[string]any{"prompt": []string{prompt}, "max_completion_tokens": 12, "temperature": 0, "seed": 7}, want.Text},
		{"echo", map[string]any{"prompt": prompt, "max_tokens": 12, "temperature": 0, "echo": true}, prompt + want.Text},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := decode[chatResp](t, h.post(t, "/v1/completions", tc.body), http.StatusOK)
			if r.Object != "text_completion" || !strings.HasPrefix(r.ID, "cmpl-") || len(r.Choices) != 1 {
				t.Fatalf("envelope: %+v", r)
			}
			if r.Choices[0].Text != tc.text || *r.Choices[0].FinishReason != "length" || r.Usage.CompletionTokens != 12 {
				t.Errorf("got %q (%s, %d tokens), want %q (length, 12)", r.Choices[0].Text, *r.Choices[0].FinishReason, r.Usage.CompletionTokens, tc.text)
			}
		})
	}
}

func TestSeededSamplingIsReproducible(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	texts := map[string]int{}
	for _, seed := range []int{0, 0, 42} {
		r := decode[chatResp](t, h.post(t, "/v1/chat/completions", map[string]any{"messages": story, "temperature": 1.5, "top_p": 0.95, "seed": seed, "max_tokens": 40}), http.StatusOK)
		texts[fmt.Sprintf("%d:%s", seed, r.Choices[0].Message.Content)]++
	}
	if len(texts) != 2 {
		t.Errorf("seed 0 twice and seed 42 once gave %d distinct outputs, want 2: %v", len(texts), texts)
	}
}

// streamChunks posts a streaming request and parses its events.
func streamChunks(t *testing.T, h *harness, path string, body map[string]any) ([]chatResp, []string) {
	t.Helper()
	resp := h.post(t, path, body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	raw := events(t, resp.Body)
	if len(raw) == 0 || raw[len(raw)-1] != "[DONE]" {
		t.Fatalf("stream does not end with [DONE]: %q", raw)
	}
	var out []chatResp
	for _, d := range raw[:len(raw)-1] {
		var c chatResp
		if err := json.Unmarshal([]byte(d), &c); err != nil {
			t.Fatalf("chunk %q: %v", d, err)
		}
		out = append(out, c)
	}
	return out, raw
}

func TestChatStreaming(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	base := map[string]any{"messages": story, "temperature": 0, "max_tokens": 25}
	whole := decode[chatResp](t, h.post(t, "/v1/chat/completions", base), http.StatusOK)

	for _, withUsage := range []bool{false, true} {
		t.Run(fmt.Sprintf("include_usage=%v", withUsage), func(t *testing.T) {
			body := map[string]any{"stream": true}
			for k, v := range base {
				body[k] = v
			}
			if withUsage {
				body["stream_options"] = map[string]any{"include_usage": true}
			}
			chunks, raw := streamChunks(t, h, "/v1/chat/completions", body)
			if c := chunks[0]; c.Choices[0].Delta.Role != "assistant" || *c.Choices[0].Delta.Content != "" {
				t.Errorf("first chunk must carry the role: %s", raw[0])
			}
			var text strings.Builder
			finishes := 0
			n := len(chunks)
			if withUsage {
				n-- // the usage chunk
				u := chunks[n]
				if len(u.Choices) != 0 || u.Usage == nil || u.Usage.CompletionTokens != 25 || u.Usage.TotalTokens != u.Usage.PromptTokens+25 {
					t.Errorf("usage chunk: %s", raw[n])
				}
				if !strings.Contains(raw[n], `"prompt_tokens_details":{"cached_tokens":`) {
					t.Errorf("usage chunk lacks prompt_tokens_details.cached_tokens: %s", raw[n])
				}
			}
			for i, c := range chunks[:n] {
				if c.Object != "chat.completion.chunk" || c.ID != chunks[0].ID || len(c.Choices) != 1 {
					t.Fatalf("chunk %d: %s", i, raw[i])
				}
				if withUsage != strings.Contains(raw[i], `"usage":null`) {
					t.Errorf("chunk %d: usage must be null exactly when include_usage is set: %s", i, raw[i])
				}
				if d := c.Choices[0].Delta; d.Content != nil {
					text.WriteString(*d.Content)
				}
				if f := c.Choices[0].FinishReason; f != nil {
					finishes++
					if *f != "length" || i != n-1 {
						t.Errorf("finish_reason %q on chunk %d of %d", *f, i, n)
					}
				}
			}
			if finishes != 1 {
				t.Errorf("%d chunks carry a finish_reason, want 1", finishes)
			}
			if text.String() != whole.Choices[0].Message.Content {
				t.Errorf("streamed %q, non-streamed %q", text.String(), whole.Choices[0].Message.Content)
			}
		})
	}
}

func TestCompletionsStreaming(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	body := map[string]any{"prompt": "Once upon a time", "temperature": 0, "max_tokens": 10}
	whole := decode[chatResp](t, h.post(t, "/v1/completions", body), http.StatusOK)
	body["stream"] = true
	body["stream_options"] = map[string]any{"include_usage": true}
	chunks, raw := streamChunks(t, h, "/v1/completions", body)
	var text strings.Builder
	for i, c := range chunks[:len(chunks)-1] {
		if c.Object != "text_completion" || len(c.Choices) != 1 {
			t.Fatalf("chunk %d: %s", i, raw[i])
		}
		text.WriteString(c.Choices[0].Text)
	}
	if last := chunks[len(chunks)-2]; *last.Choices[0].FinishReason != "length" {
		t.Errorf("last choice chunk: %s", raw[len(chunks)-2])
	}
	if u := chunks[len(chunks)-1]; u.Usage == nil || u.Usage.CompletionTokens != 10 {
		t.Errorf("usage chunk: %s", raw[len(chunks)-1])
	}
	if text.String() != whole.Choices[0].Text {
		t.Errorf("streamed %q, non-streamed %q", text.String(), whole.Choices[0].Text)
	}
}

func TestModels(t *testing.T) {
	h := newHarness(t, harnessOpts{noStack: true})
	type list struct {
		Object string      `json:"object"`
		Data   []modelJSON `json:"data"`
	}
	l := decode[list](t, h.do(t, context.Background(), http.MethodGet, "/v1/models", nil), http.StatusOK)
	if l.Object != "list" || len(l.Data) != 1 || l.Data[0] != (modelJSON{ID: modelName, Object: "model", Created: fixedNow.Unix(), OwnedBy: "krserve"}) {
		t.Errorf("models: %+v", l)
	}
	m := decode[modelJSON](t, h.do(t, context.Background(), http.MethodGet, "/v1/models/"+modelName, nil), http.StatusOK)
	if m.ID != modelName {
		t.Errorf("model: %+v", m)
	}
	e := decode[errResp](t, h.do(t, context.Background(), http.MethodGet, "/v1/models/gpt-4o", nil), http.StatusNotFound)
	if *e.Error.Code != "model_not_found" {
		t.Errorf("unknown model: %+v", e)
	}
}

func TestErrors(t *testing.T) {
	h := newHarness(t, harnessOpts{cfg: func(c *Config) { c.MaxBodyBytes = 64 << 10 }})
	long := strings.Repeat("the cat sat on the mat. ", 300) // more tokens than the 512-token context
	manyStops := make([]string, 17)
	for i := range manyStops {
		manyStops[i] = fmt.Sprint("s", i)
	}
	for _, tc := range []struct {
		name, method, path string
		body               any
		status             int
		code, param, typ   string
	}{
		{"malformed JSON", "POST", "/v1/chat/completions", `{"messages": [`, 400, "invalid_value", "", typeInvalidRequest},
		{"wrong JSON type", "POST", "/v1/chat/completions", `{"messages": "hi"}`, 400, "invalid_value", "", typeInvalidRequest},
		{"no messages", "POST", "/v1/chat/completions", map[string]any{"model": modelName}, 400, "invalid_value", "messages", typeInvalidRequest},
		{"unknown model", "POST", "/v1/chat/completions", map[string]any{"model": "gpt-4o", "messages": story}, 404, "model_not_found", "model", typeInvalidRequest},
		{"n > 1", "POST", "/v1/chat/completions", map[string]any{"messages": story, "n": 2}, 400, "invalid_value", "n", typeInvalidRequest},
		{"temperature", "POST", "/v1/chat/completions", map[string]any{"messages": story, "temperature": 2.5}, 400, "invalid_value", "temperature", typeInvalidRequest},
		{"top_p", "POST", "/v1/completions", map[string]any{"prompt": "x", "top_p": 1.5}, 400, "invalid_value", "top_p", typeInvalidRequest},
		{"max_tokens 0", "POST", "/v1/completions", map[string]any{"prompt": "x", "max_tokens": 0}, 400, "invalid_value", "max_tokens", typeInvalidRequest},
		{"too many stops", "POST", "/v1/completions", map[string]any{"prompt": "x", "stop": manyStops}, 400, "invalid_value", "stop", typeInvalidRequest},
		{"bad role", "POST", "/v1/chat/completions", map[string]any{"messages": []map[string]string{{"role": "robot", "content": "x"}}}, 400, "invalid_value", "messages", typeInvalidRequest},
		{"image part", "POST", "/v1/chat/completions", map[string]any{"messages": []map[string]any{{"role": "user", "content": []map[string]any{{"type": "image_url"}}}}}, 400, "invalid_value", "messages", typeInvalidRequest},
		{"tools", "POST", "/v1/chat/completions", map[string]any{"messages": story, "tools": []map[string]any{{"type": "function"}}}, 400, "invalid_value", "tools", typeInvalidRequest},
		{"logprobs", "POST", "/v1/chat/completions", map[string]any{"messages": story, "logprobs": true}, 400, "invalid_value", "logprobs", typeInvalidRequest},
		{"two prompts", "POST", "/v1/completions", map[string]any{"prompt": []string{"a", "b"}}, 400, "invalid_value", "prompt", typeInvalidRequest},
		{"token prompt", "POST", "/v1/completions", map[string]any{"prompt": []int{1, 2}}, 400, "invalid_value", "prompt", typeInvalidRequest},
		{"bad conversation id", "POST", "/v1/completions", map[string]any{"prompt": "x", "conversation_id": "a b"}, 400, "invalid_value", "conversation_id", typeInvalidRequest},
		{"body too large", "POST", "/v1/completions", map[string]any{"prompt": strings.Repeat("x", 70<<10)}, 413, "request_too_large", "", typeInvalidRequest},
		// Refused by the pipeline, before any token: still a proper status when streaming.
		{"max_tokens beyond context", "POST", "/v1/completions", map[string]any{"prompt": "x", "max_tokens": 100000, "stream": true}, 400, "bad_request", "", typeInvalidRequest},
		{"prompt beyond context", "POST", "/v1/completions", map[string]any{"prompt": long}, 400, "context_length_exceeded", "", typeInvalidRequest},
		{"wrong method", "GET", "/v1/chat/completions", nil, 405, "method_not_allowed", "", typeInvalidRequest},
		{"unknown URL", "POST", "/v1/embeddings", map[string]any{}, 404, "unknown_url", "", typeInvalidRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := decode[errResp](t, h.do(t, context.Background(), tc.method, tc.path, tc.body), tc.status)
			if e.Error.Message == "" || e.Error.Type != tc.typ || e.Error.Code == nil || *e.Error.Code != tc.code {
				t.Errorf("error %+v, want type %s code %s", e.Error, tc.typ, tc.code)
			}
			if tc.param != "" && (e.Error.Param == nil || *e.Error.Param != tc.param) {
				t.Errorf("param %v, want %q (%s)", e.Error.Param, tc.param, e.Error.Message)
			}
		})
	}
	// Nothing leaked: every slot is free again and the pipeline still serves.
	if n := h.gw.Inflight(); n != 0 {
		t.Errorf("%d requests still in flight", n)
	}
	decode[chatResp](t, h.post(t, "/v1/completions", map[string]any{"prompt": "Once", "max_tokens": 3}), http.StatusOK)
	if got := metric(t, h.gwReg, "krserve_gateway_requests_total", "endpoint", "completions", "code", "400"); got < 5 {
		t.Errorf("requests_total{code=400} = %v", got)
	}
}

func TestAPIKeys(t *testing.T) {
	h := newHarness(t, harnessOpts{noStack: true, cfg: func(c *Config) { c.APIKeys = []string{"sk-one", "sk-two"} }})
	for _, tc := range []struct {
		name   string
		header []string
		status int
	}{
		{"missing", nil, 401},
		{"wrong", []string{"Authorization", "Bearer sk-three"}, 401},
		{"not bearer", []string{"Authorization", "Basic sk-one"}, 401},
		{"first key", []string{"Authorization", "Bearer sk-one"}, 200},
		{"second key", []string{"Authorization", "Bearer sk-two"}, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := h.do(t, context.Background(), http.MethodGet, "/v1/models", nil, tc.header...)
			if tc.status == 401 {
				e := decode[errResp](t, resp, 401)
				if *e.Error.Code != "invalid_api_key" || e.Error.Type != typeAuthentication {
					t.Errorf("401 body: %+v", e)
				}
				return
			}
			decode[modelList](t, resp, tc.status)
		})
	}
	// Generation endpoints are guarded too (no worker runs: a passing key
	// would get 503, a missing one 401 before any NATS traffic).
	decode[errResp](t, h.post(t, "/v1/chat/completions", map[string]any{"messages": story}), 401)
	decode[errResp](t, h.post(t, "/v1/chat/completions", map[string]any{"messages": story}, "Authorization", "Bearer sk-two"), 503)
}

func TestNoWorker(t *testing.T) {
	h := newHarness(t, harnessOpts{noStack: true})
	for _, stream := range []bool{false, true} {
		resp := h.post(t, "/v1/chat/completions", map[string]any{"messages": story, "stream": stream})
		if resp.Header.Get("Retry-After") == "" {
			t.Errorf("503 without Retry-After")
		}
		e := decode[errResp](t, resp, http.StatusServiceUnavailable)
		if *e.Error.Code != "no_worker" || e.Error.Type != typeUnavailable {
			t.Errorf("stream=%v: %+v", stream, e)
		}
	}
}

func TestTimeout(t *testing.T) {
	// Every step takes ~100 times longer, so 400 tokens cannot finish in 300 ms.
	h := newHarness(t, harnessOpts{slowdown: 100, cfg: func(c *Config) { c.RequestTimeout = 300 * time.Millisecond }})
	e := decode[errResp](t, h.post(t, "/v1/completions", map[string]any{"prompt": "Once upon a time", "max_tokens": 400}), http.StatusGatewayTimeout)
	if *e.Error.Code != "timeout" || e.Error.Type != typeTimeout {
		t.Errorf("timeout: %+v", e)
	}
	// Streaming: the deadline passes after the first tokens, so the error
	// arrives as an error event after 200 OK.
	resp := h.post(t, "/v1/completions", map[string]any{"prompt": "Once upon a time", "max_tokens": 400, "stream": true})
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	raw := events(t, resp.Body)
	last := raw[len(raw)-1]
	var eb errResp
	if err := json.Unmarshal([]byte(last), &eb); err != nil || eb.Error.Code == nil || *eb.Error.Code != "timeout" {
		t.Errorf("last event %q: want an error event with code timeout", last)
	}
	for _, d := range raw {
		if d == "[DONE]" {
			t.Errorf("a failed stream must not end with [DONE]")
		}
	}
}

func TestOverloaded(t *testing.T) {
	h := newHarness(t, harnessOpts{slowdown: 50, cfg: func(c *Config) { c.MaxInflight = 1 }})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	long := h.do(t, ctx, http.MethodPost, "/v1/completions", map[string]any{"prompt": "Once upon a time", "max_tokens": 400, "stream": true})
	if long.StatusCode != 200 {
		t.Fatalf("first request: %d", long.StatusCode)
	}
	resp := h.post(t, "/v1/chat/completions", map[string]any{"messages": story})
	if resp.Header.Get("Retry-After") != "1" {
		t.Errorf("429 without Retry-After: %v", resp.Header)
	}
	e := decode[errResp](t, resp, http.StatusTooManyRequests)
	if *e.Error.Code != "overloaded" || e.Error.Type != typeRateLimit {
		t.Errorf("429: %+v", e)
	}
	cancel()
	waitFor(t, 10*time.Second, "the slot to be released", func() bool { return h.gw.Inflight() == 0 })
	decode[chatResp](t, h.post(t, "/v1/chat/completions", map[string]any{"messages": story, "max_tokens": 2}), http.StatusOK)
}

func TestDisconnectCancelsGeneration(t *testing.T) {
	h := newHarness(t, harnessOpts{slowdown: 50})
	eng := h.st.EngineCore[0]
	for _, stream := range []bool{true, false} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			before := metric(t, h.stackReg, "krserve_engine_canceled_total") + metric(t, h.stackReg, "krserve_engine_consumer_gone_total")
			ctx, cancel := context.WithCancel(context.Background())
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, h.http.URL+"/v1/completions",
				strings.NewReader(fmt.Sprintf(`{"prompt":"Once upon a time","max_tokens":450,"stream":%v}`, stream)))
			done := make(chan struct{})
			go func() {
				defer close(done)
				resp, err := h.http.Client().Do(req)
				if err == nil {
					// Read the first chunk so the generation is surely running.
					_, _ = resp.Body.Read(make([]byte, 64))
					cancel()
					resp.Body.Close()
				}
			}()
			waitFor(t, 10*time.Second, "the sequence to start", func() bool { return eng.Pool.Stats().Sequences == 1 })
			if !stream {
				cancel() // nothing arrives before the end: hang up mid-generation
			}
			<-done
			waitFor(t, 10*time.Second, "the engine to free the sequence", func() bool {
				return eng.Pool.Stats().Sequences == 0 && h.gw.Inflight() == 0
			})
			after := metric(t, h.stackReg, "krserve_engine_canceled_total") + metric(t, h.stackReg, "krserve_engine_consumer_gone_total")
			if after <= before {
				t.Errorf("engine cancellations %v → %v: the generation must have been cancelled, not finished", before, after)
			}
			if n := metric(t, h.stackReg, "krserve_engine_finished_total", "reason", "length"); n != 0 {
				t.Errorf("%v generations ran to max_tokens", n)
			}
			if err := eng.Pool.CheckInvariants(); err != nil {
				t.Error(err)
			}
		})
	}
	if d := metric(t, h.gwReg, "krserve_gateway_client_disconnects_total"); d < 2 {
		t.Errorf("client disconnects = %v, want 2", d)
	}
}

func TestServeShutsDownGracefully(t *testing.T) {
	h := newHarness(t, harnessOpts{slowdown: 5})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- h.gw.Serve(ctx, ln) }()
	<-h.gw.Ready()
	if h.gw.Addr() != ln.Addr().String() {
		t.Errorf("Addr %q, listener %q", h.gw.Addr(), ln.Addr())
	}
	resp, err := http.Post("http://"+h.gw.Addr()+"/v1/completions", "application/json",
		strings.NewReader(`{"prompt":"Once upon a time","max_tokens":60,"temperature":0,"stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// Shut down while the stream runs: it must still finish completely.
	cancel()
	raw := events(t, resp.Body)
	if raw[len(raw)-1] != "[DONE]" {
		t.Errorf("in-flight stream cut by shutdown: %q", raw[len(raw)-1])
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if _, err := http.Get("http://" + h.gw.Addr() + "/v1/models"); err == nil {
		t.Errorf("still accepting after shutdown")
	}
}
