package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/krserve/krserve/bus/client"
	"github.com/krserve/krserve/schemas"
)

// exchange is one generation request being answered.
type exchange struct {
	g        *Gateway
	w        http.ResponseWriter
	r        *http.Request
	endpoint string
	plan     *plan
	id       string // OpenAI response id
	created  int64
	status   int
}

func (g *Gateway) generate(w http.ResponseWriter, r *http.Request, endpoint string) {
	start := time.Now()
	x := &exchange{g: g, w: w, r: r, endpoint: endpoint, created: g.now().Unix()}
	defer func() {
		g.metrics.requests.WithLabelValues(endpoint, strconv.Itoa(x.status)).Inc()
		g.metrics.duration.WithLabelValues(endpoint).Observe(time.Since(start).Seconds())
	}()
	release, ok := g.admit()
	if !ok {
		x.fail(&apiError{Status: http.StatusTooManyRequests, Type: typeRateLimit, Code: strp("overloaded"), RetryAfter: 1,
			Message: "The gateway is at its limit of " + strconv.Itoa(g.cfg.MaxInflight) + " concurrent requests; retry after a back-off."})
		return
	}
	defer release()
	body, ae := g.readBody(w, r)
	if ae != nil {
		x.fail(ae)
		return
	}
	if endpoint == endpointChat {
		x.plan, ae = g.translateChat(body)
	} else {
		x.plan, ae = g.translateCompletion(body)
	}
	if ae != nil {
		x.fail(ae)
		return
	}
	req := x.plan.req
	req.ID = newRequestID()
	if endpoint == endpointChat {
		x.id = "chatcmpl-" + req.ID
	} else {
		x.id = "cmpl-" + req.ID
	}
	w.Header().Set("X-Request-Id", req.ID)
	ctx := r.Context()
	s, err := g.client.Generate(ctx, req)
	if err != nil {
		x.fail(fromPipeline(err))
		return
	}
	defer s.Close()
	// Wait for the first message before answering, so that a request the
	// pipeline refuses gets a proper HTTP status even when streaming.
	first, err := s.Next(ctx)
	g.metrics.ttft.WithLabelValues(endpoint).Observe(time.Since(start).Seconds())
	if err != nil {
		if x.gone(ctx) {
			return
		}
		x.fail(fromPipeline(err))
		return
	}
	if x.plan.stream {
		x.stream(ctx, s, first)
	} else {
		x.whole(ctx, s, first)
	}
}

func (x *exchange) fail(e *apiError) {
	x.status = e.Status
	if e.Status >= 500 {
		x.g.log.Warn("gateway: request failed", "endpoint", x.endpoint, "status", e.Status, "error", e.Message)
	}
	writeError(x.w, e)
}

// gone reports (and counts) a client that went away; the producer client
// has already published the cancel for the request.
func (x *exchange) gone(ctx context.Context) bool {
	if ctx.Err() == nil {
		return false
	}
	x.status = 499
	x.g.metrics.disconnects.Inc()
	return true
}

// whole answers a non-streaming request once the stream has ended.
func (x *exchange) whole(ctx context.Context, s *client.Stream, m *schemas.StreamMsg) {
	var sb strings.Builder
	sb.WriteString(x.plan.echo)
	for {
		if m.Kind == schemas.KindToken {
			sb.WriteString(m.Text)
		}
		if m.Kind == schemas.KindFinal {
			break
		}
		var err error
		if m, err = s.Next(ctx); err != nil {
			if x.gone(ctx) {
				return
			}
			x.fail(fromPipeline(err))
			return
		}
	}
	x.status = http.StatusOK
	finish := finishReason(m.FinishReason)
	u := usageOf(m.Usage)
	ext := extensionOf(s.ID, m)
	model := x.g.cfg.ModelName
	if x.endpoint == endpointChat {
		writeJSON(x.w, http.StatusOK, chatCompletion{ID: x.id, Object: "chat.completion", Created: x.created, Model: model,
			SystemFingerprint: fingerprint(m), Krserve: ext, Usage: u,
			Choices: []chatChoice{{Index: 0, Message: assistantMessage{Role: "assistant", Content: sb.String()}, FinishReason: finish}}})
		return
	}
	writeJSON(x.w, http.StatusOK, textCompletion{ID: x.id, Object: "text_completion", Created: x.created, Model: model,
		SystemFingerprint: fingerprint(m), Krserve: ext, Usage: u,
		Choices: []textChoice{{Text: sb.String(), Index: 0, FinishReason: &finish}}})
}

// stream answers with server-sent events: one chunk per token message, a
// chunk with the finish reason, optionally a usage chunk, then [DONE].
func (x *exchange) stream(ctx context.Context, s *client.Stream, m *schemas.StreamMsg) {
	h := x.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	x.w.WriteHeader(http.StatusOK)
	x.status = http.StatusOK
	rc := http.NewResponseController(x.w)
	send := func(v any) bool {
		b, err := json.Marshal(v)
		if err == nil {
			_, err = x.w.Write(append(append([]byte("data: "), b...), '\n', '\n'))
		}
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			// The client went away mid-write: stop the generation now rather
			// than when the request context notices.
			x.g.client.Cancel(s.ID, "http client gone")
			x.g.metrics.disconnects.Inc()
			x.status = 499
			return false
		}
		return true
	}
	var usage any // null on every chunk when usage was asked for
	if x.plan.includeUsage {
		usage = jsonNull
	}
	chat := x.endpoint == endpointChat
	model := x.g.cfg.ModelName
	text := func(t string) any {
		if chat {
			return chatChunk{ID: x.id, Object: "chat.completion.chunk", Created: x.created, Model: model, Usage: usage,
				Choices: []chunkChoice{{Delta: chunkDelta{Content: &t}}}}
		}
		return textCompletion{ID: x.id, Object: "text_completion", Created: x.created, Model: model, Usage: usage,
			Choices: []textChoice{{Text: t}}}
	}
	if chat {
		empty := ""
		if !send(chatChunk{ID: x.id, Object: "chat.completion.chunk", Created: x.created, Model: model, Usage: usage,
			Choices: []chunkChoice{{Delta: chunkDelta{Role: "assistant", Content: &empty}}}}) {
			return
		}
	}
	if x.plan.echo != "" && !send(text(x.plan.echo)) {
		return
	}
	for {
		switch m.Kind {
		case schemas.KindToken:
			if m.Text != "" && !send(text(m.Text)) {
				return
			}
		case schemas.KindFinal:
			finish := finishReason(m.FinishReason)
			ext := extensionOf(s.ID, m)
			var last any
			if chat {
				last = chatChunk{ID: x.id, Object: "chat.completion.chunk", Created: x.created, Model: model, Usage: usage,
					SystemFingerprint: fingerprint(m), Krserve: ext, Choices: []chunkChoice{{Delta: chunkDelta{}, FinishReason: &finish}}}
			} else {
				last = textCompletion{ID: x.id, Object: "text_completion", Created: x.created, Model: model, Usage: usage,
					SystemFingerprint: fingerprint(m), Krserve: ext, Choices: []textChoice{{FinishReason: &finish}}}
			}
			if !send(last) {
				return
			}
			if x.plan.includeUsage {
				u := usageOf(m.Usage)
				var uc any
				if chat {
					uc = chatChunk{ID: x.id, Object: "chat.completion.chunk", Created: x.created, Model: model, Choices: []chunkChoice{}, Usage: u}
				} else {
					uc = textCompletion{ID: x.id, Object: "text_completion", Created: x.created, Model: model, Choices: []textChoice{}, Usage: u}
				}
				if !send(uc) {
					return
				}
			}
			_, _ = x.w.Write([]byte("data: [DONE]\n\n"))
			_ = rc.Flush()
			return
		}
		var err error
		if m, err = s.Next(ctx); err != nil {
			if x.gone(ctx) {
				return
			}
			// Headers are sent: report the failure as an error event, the
			// way OpenAI does, and end the stream without [DONE].
			ae := fromPipeline(err)
			x.status = ae.Status
			x.g.log.Warn("gateway: stream failed", "endpoint", x.endpoint, "status", ae.Status, "error", ae.Message)
			send(errorBody{Error: ae})
			return
		}
	}
}

func finishReason(r schemas.FinishReason) string {
	if r == "" {
		return string(schemas.FinishStop)
	}
	return string(r)
}

func usageOf(u *schemas.Usage) usageJSON {
	var out usageJSON
	if u != nil {
		out.PromptTokens = u.PromptTokens
		out.CompletionTokens = u.GeneratedTokens
		out.TotalTokens = u.PromptTokens + u.GeneratedTokens
		out.PromptTokensDetails.CachedTokens = u.CachedTokens
	}
	return out
}

func extensionOf(id string, m *schemas.StreamMsg) *extension {
	e := &extension{RequestID: id, Worker: m.Worker, Variant: m.Variant}
	if t := m.Timings; t != nil {
		e.TTFTMs = float64(t.TTFTUs) / 1000
		e.TotalMs = float64(t.TotalUs) / 1000
		e.QueueMs = float64(t.QueueUs) / 1000
		e.PrefillMs = float64(t.PrefillUs) / 1000
	}
	return e
}

// fingerprint names the engine variant that served the request, OpenAI's
// place for "which backend configuration produced this".
func fingerprint(m *schemas.StreamMsg) string {
	if m.Variant == "" {
		return ""
	}
	return "krserve-" + m.Variant
}
