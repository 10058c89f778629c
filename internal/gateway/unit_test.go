package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/krserve/krserve/bus"
	"github.com/krserve/krserve/bus/client"
	"github.com/krserve/krserve/schemas"
)

func TestConfigValidate(t *testing.T) {
	nan, hot := math.NaN(), 2.5
	for _, tc := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"minimal", Config{Addr: "127.0.0.1:8080", ModelName: "m"}, true},
		{"any port", Config{Addr: ":0", ModelName: "m", APIKeys: []string{"k"}, MaxInflight: 4}, true},
		{"no addr", Config{ModelName: "m"}, false},
		{"bad addr", Config{Addr: "localhost", ModelName: "m"}, false},
		{"no model", Config{Addr: ":0"}, false},
		{"empty key", Config{Addr: ":0", ModelName: "m", APIKeys: []string{""}}, false},
		{"negative inflight", Config{Addr: ":0", ModelName: "m", MaxInflight: -1}, false},
		{"NaN temperature", Config{Addr: ":0", ModelName: "m", DefaultTemperature: &nan}, false},
		{"hot temperature", Config{Addr: ":0", ModelName: "m", DefaultTemperature: &hot}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.ok != (err == nil) || (err != nil && !errors.Is(err, ErrConfig)) {
				t.Errorf("Validate() = %v, want ok=%v (errors wrap ErrConfig)", err, tc.ok)
			}
		})
	}
	if _, err := New(Config{Addr: ":0", ModelName: "m"}, nil, Deps{}); !errors.Is(err, ErrConfig) {
		t.Errorf("New without a client: %v", err)
	}
}

func TestStopList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		bad  bool
	}{
		{`null`, nil, false},
		{`"\n"`, []string{"\n"}, false},
		{`["a","b"]`, []string{"a", "b"}, false},
		{`[]`, []string{}, false},
		{`3`, nil, true},
		{`[1]`, nil, true},
	} {
		var s stopList
		err := json.Unmarshal([]byte(tc.in), &s)
		if tc.bad != (err != nil) || (!tc.bad && !slices.Equal(s, tc.want)) {
			t.Errorf("%s: got %q, %v", tc.in, s, err)
		}
	}
}

func TestContentText(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		bad      bool
	}{
		{`"hi"`, "hi", false},
		{`null`, "", false},
		{``, "", false},
		{`[{"type":"text","text":"a"},{"type":"text","text":"b"}]`, "ab", false},
		{`[{"type":"image_url","image_url":{"url":"x"}}]`, "", true},
		{`{"text":"x"}`, "", true},
	} {
		got, err := contentText(json.RawMessage(tc.in))
		if tc.bad != (err != nil) || got != tc.want {
			t.Errorf("%s: got %q, %v", tc.in, got, err)
		}
	}
}

func TestFromPipeline(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		code   string
	}{
		{schemas.NewError(schemas.CodeBadRequest, "x"), 400, "bad_request"},
		{fmt.Errorf("wrapped: %w", schemas.NewError(schemas.CodeTooLarge, "x")), 400, "context_length_exceeded"},
		{schemas.NewError(schemas.CodeUnauthorized, "x"), 401, "unauthorized"},
		{schemas.NewError(schemas.CodeNotFound, "x"), 404, "not_found"},
		{schemas.NewError(schemas.CodeTimeout, "x"), 504, "timeout"},
		{schemas.NewError(schemas.CodeOverloaded, "x"), 429, "overloaded"},
		{schemas.NewError(schemas.CodeNoWorker, "x"), 503, "no_worker"},
		{schemas.NewError(schemas.CodeWorkerLost, "x"), 502, "worker_lost"},
		{schemas.NewError(schemas.CodeInternal, "x"), 500, "internal"},
		{schemas.NewError(schemas.CodeCanceled, "x"), 500, "canceled"},
		{fmt.Errorf("read: %w", bus.ErrIdle), 504, "timeout"},
		{fmt.Errorf("read: %w", bus.ErrGap), 502, "stream_incomplete"},
		{bus.ErrSlowConsumer, 502, "stream_incomplete"},
		{fmt.Errorf("%w: GenerateRequest.sampling.top_k: -1", schemas.ErrInvalid), 400, "invalid_value"},
		{errors.New("boom"), 500, "internal"},
	} {
		e := fromPipeline(tc.err)
		if e.Status != tc.status || e.Code == nil || *e.Code != tc.code {
			t.Errorf("%v → %d %v, want %d %s", tc.err, e.Status, e.Code, tc.status, tc.code)
		}
		if (tc.status == 429 || tc.status == 503) != (e.RetryAfter > 0) {
			t.Errorf("%v: Retry-After %d", tc.err, e.RetryAfter)
		}
	}
	e := fromPipeline(fmt.Errorf("%w: GenerateRequest.sampling.top_k: -1", schemas.ErrInvalid))
	if e.Param == nil || *e.Param != "top_k" {
		t.Errorf("param of a sampling field: %v", e.Param)
	}
}

// TestTranslate checks the field mapping of request bodies in testdata/.
func TestTranslate(t *testing.T) {
	g := testGateway(t)
	for _, tc := range []struct {
		file string
		chat bool
		want schemas.GenerateRequest
		plan plan
	}{
		{"chat_full.json", true, schemas.GenerateRequest{V: 1, Model: modelName,
			Messages:       []schemas.ChatMessage{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Hello there"}, {Role: "assistant", Content: ""}, {Role: "user", Content: "Go on"}},
			ConversationID: "conv-7", Sampling: schemas.Sampling{Temperature: 0.7, TopP: 0.9, TopK: 40, MinP: 0.05, RepetitionPenalty: 1.1, Seed: 42},
			Stop: []string{"\n\n", "END"}, MaxTokens: 64, Priority: 5, CacheSalt: "tenant-a"}, plan{stream: true, includeUsage: true}},
		{"chat_minimal.json", true, schemas.GenerateRequest{V: 1, Model: modelName, Messages: []schemas.ChatMessage{{Role: "user", Content: "hi"}},
			ConversationID: userConversation("alice@example.com"), Sampling: schemas.Sampling{Temperature: 1, Seed: zeroSeed}, Stop: []string{"."}}, plan{}},
		{"completion.json", false, schemas.GenerateRequest{V: 1, Model: modelName, Prompt: "Once upon a time",
			Sampling: schemas.Sampling{Temperature: 0}, MaxTokens: 16}, plan{echo: "Once upon a time"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			var p *plan
			var ae *apiError
			if tc.chat {
				p, ae = g.translateChat(body)
			} else {
				p, ae = g.translateCompletion(body)
			}
			if ae != nil {
				t.Fatal(ae)
			}
			got, _ := json.Marshal(p.req)
			want, _ := json.Marshal(&tc.want)
			if string(got) != string(want) {
				t.Errorf("-got +want\n-%s\n+%s", got, want)
			}
			if p.stream != tc.plan.stream || p.includeUsage != tc.plan.includeUsage || p.echo != tc.plan.echo {
				t.Errorf("plan %+v, want %+v", *p, tc.plan)
			}
		})
	}
}

func testGateway(tb testing.TB) *Gateway {
	tb.Helper()
	g, err := New(Config{Addr: ":0", ModelName: modelName}, client.New(nil, client.Options{}), Deps{})
	if err != nil {
		tb.Fatal(err)
	}
	return g
}

// FuzzTranslate feeds arbitrary bodies to both translators: they must
// return a valid request or a 4xx error, never panic.
func FuzzTranslate(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],"stop":"a","n":1}`))
	f.Add([]byte(`{"prompt":["x"],"max_tokens":1e30,"seed":-1,"top_k":-5}`))
	g := testGateway(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, tr := range []func([]byte) (*plan, *apiError){g.translateChat, g.translateCompletion} {
			p, ae := tr(body)
			switch {
			case ae != nil:
				if ae.Status < 400 || ae.Status >= 500 || ae.Message == "" {
					t.Fatalf("bad input got %d %q", ae.Status, ae.Message)
				}
			case p == nil:
				t.Fatal("nil plan without an error")
			default:
				if err := p.req.Validate(); err != nil {
					t.Fatalf("translated request does not validate: %v", err)
				}
			}
		}
	})
}

func TestErrorShape(t *testing.T) {
	rec := httptest.NewRecorder()
	writeError(rec, badRequest("temperature", "too hot"))
	want := `{"error":{"message":"too hot","type":"invalid_request_error","param":"temperature","code":"invalid_value"}}` + "\n"
	if rec.Code != http.StatusBadRequest || rec.Body.String() != want || rec.Header().Get("Content-Type") != "application/json" {
		t.Errorf("-got +want\n-%d %s+%d %s", rec.Code, rec.Body.String(), 400, want)
	}
}
