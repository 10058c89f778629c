package gateway

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"strings"
	"time"

	"github.com/krserve/krserve/schemas"
)

// plan is one translated HTTP request.
type plan struct {
	req          *schemas.GenerateRequest
	stream       bool
	includeUsage bool
	echo         string // completions with echo: the prompt, sent before the output
}

// zeroSeed stands for an explicit OpenAI seed of 0 (krserve's 0 means "derive
// from the request id", which is not deterministic across requests).
const zeroSeed = 0x9E3779B97F4A7C15

func (g *Gateway) translateCommon(f *samplingFields) (*schemas.GenerateRequest, *apiError) {
	if f.Model != "" && f.Model != g.cfg.ModelName {
		return nil, modelNotFound(f.Model)
	}
	if f.N != nil && *f.N != 1 {
		return nil, badRequest("n", "n = %d is not supported: this server returns exactly one choice", *f.N)
	}
	if f.PresencePenalty != nil && *f.PresencePenalty != 0 {
		return nil, badRequest("presence_penalty", "presence_penalty is not supported (use the repetition_penalty extension)")
	}
	if f.FrequencyPenalty != nil && *f.FrequencyPenalty != 0 {
		return nil, badRequest("frequency_penalty", "frequency_penalty is not supported (use the repetition_penalty extension)")
	}
	if !isAbsent(f.Logprobs) {
		return nil, badRequest("logprobs", "logprobs are not supported")
	}
	req := &schemas.GenerateRequest{V: schemas.Version, Model: g.cfg.ModelName, CacheSalt: f.CacheSalt}
	temp := *g.cfg.DefaultTemperature
	if f.Temperature != nil {
		temp = *f.Temperature
	}
	if math.IsNaN(temp) || temp < 0 || temp > 2 {
		return nil, badRequest("temperature", "temperature %v is outside [0, 2]", temp)
	}
	req.Sampling.Temperature = float32(temp)
	if f.TopP != nil {
		if math.IsNaN(*f.TopP) || *f.TopP < 0 || *f.TopP > 1 {
			return nil, badRequest("top_p", "top_p %v is outside [0, 1]", *f.TopP)
		}
		req.Sampling.TopP = float32(*f.TopP)
	}
	maxTok, param := f.MaxTokens, "max_tokens"
	if f.MaxCompletionTokens != nil {
		maxTok, param = f.MaxCompletionTokens, "max_completion_tokens"
	}
	if maxTok != nil {
		if *maxTok < 1 || *maxTok > schemas.MaxTokensLimit {
			return nil, badRequest(param, "%s = %d is outside [1, %d]", param, *maxTok, schemas.MaxTokensLimit)
		}
		req.MaxTokens = int32(*maxTok)
	}
	req.Stop = f.Stop
	if f.Seed != nil {
		req.Sampling.Seed = uint64(*f.Seed)
		if req.Sampling.Seed == 0 {
			req.Sampling.Seed = zeroSeed
		}
	}
	switch {
	case f.ConversationID != "":
		req.ConversationID = f.ConversationID
	case f.User != "":
		req.ConversationID = userConversation(f.User)
	}
	if f.TopK != nil {
		if *f.TopK < 0 || *f.TopK > math.MaxInt32 {
			return nil, badRequest("top_k", "top_k %d is outside [0, %d]", *f.TopK, math.MaxInt32)
		}
		req.Sampling.TopK = int32(*f.TopK)
	}
	if f.MinP != nil {
		req.Sampling.MinP = float32(*f.MinP)
	}
	if f.RepetitionPenalty != nil {
		req.Sampling.RepetitionPenalty = float32(*f.RepetitionPenalty)
	}
	if f.Priority != nil {
		if *f.Priority < -schemas.MaxPriority || *f.Priority > schemas.MaxPriority {
			return nil, badRequest("priority", "priority %d is outside [-%d, %d]", *f.Priority, schemas.MaxPriority, schemas.MaxPriority)
		}
		req.Priority = int32(*f.Priority)
	}
	if g.cfg.RequestTimeout > 0 {
		// The pipeline compares deadlines with its own wall clock.
		req.DeadlineUnixMs = time.Now().Add(g.cfg.RequestTimeout).UnixMilli()
	}
	return req, nil
}

// userConversation turns an OpenAI end-user id into a conversation id, so a
// user's requests share routing affinity and canary assignment. It hashes:
// user ids may hold characters a subject token cannot.
func userConversation(user string) string {
	h := sha256.Sum256([]byte(user))
	return "user-" + hex.EncodeToString(h[:12])
}

func (g *Gateway) translateChat(body []byte) (*plan, *apiError) {
	var cr chatRequest
	if err := json.Unmarshal(body, &cr); err != nil {
		return nil, badRequest("", "request body is not a valid chat completion request: %v", err)
	}
	req, ae := g.translateCommon(&cr.samplingFields)
	if ae != nil {
		return nil, ae
	}
	if !isAbsent(cr.Tools) || !isAbsent(cr.Functions) {
		return nil, badRequest("tools", "tools and functions are not supported")
	}
	if rf := cr.ResponseFormat; rf != nil && rf.Type != "" && rf.Type != "text" {
		return nil, badRequest("response_format", "response_format %q is not supported (only text)", rf.Type)
	}
	if len(cr.Messages) == 0 {
		return nil, badRequest("messages", "messages must not be empty")
	}
	req.Messages = make([]schemas.ChatMessage, len(cr.Messages))
	for i, m := range cr.Messages {
		text, err := contentText(m.Content)
		if err != nil {
			return nil, badRequest("messages", "message %d: %v", i, err)
		}
		role := m.Role
		switch role {
		case "developer":
			role = "system"
		case "function":
			role = "tool"
		}
		req.Messages[i] = schemas.ChatMessage{Role: role, Content: text}
	}
	if err := req.Validate(); err != nil {
		return nil, fromPipeline(err)
	}
	return &plan{req: req, stream: cr.Stream, includeUsage: cr.Stream && cr.StreamOptions != nil && cr.StreamOptions.IncludeUsage}, nil
}

func (g *Gateway) translateCompletion(body []byte) (*plan, *apiError) {
	var cr completionRequest
	if err := json.Unmarshal(body, &cr); err != nil {
		return nil, badRequest("", "request body is not a valid completion request: %v", err)
	}
	req, ae := g.translateCommon(&cr.samplingFields)
	if ae != nil {
		return nil, ae
	}
	if cr.BestOf != nil && *cr.BestOf != 1 {
		return nil, badRequest("best_of", "best_of = %d is not supported", *cr.BestOf)
	}
	if cr.Suffix != nil && *cr.Suffix != "" {
		return nil, badRequest("suffix", "suffix is not supported")
	}
	prompt, ae := promptText(cr.Prompt)
	if ae != nil {
		return nil, ae
	}
	req.Prompt = prompt
	if err := req.Validate(); err != nil {
		return nil, fromPipeline(err)
	}
	p := &plan{req: req, stream: cr.Stream, includeUsage: cr.Stream && cr.StreamOptions != nil && cr.StreamOptions.IncludeUsage}
	if cr.Echo {
		p.echo = prompt
	}
	return p, nil
}

// promptText reads a completions prompt: a string or an array of exactly
// one string. Token-id prompts and batches are not supported.
func promptText(raw json.RawMessage) (string, *apiError) {
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" {
		return "", badRequest("prompt", "prompt is required")
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one, nil
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil {
		if len(many) != 1 {
			return "", badRequest("prompt", "a prompt array must hold exactly one string (got %d); send one request per prompt", len(many))
		}
		return many[0], nil
	}
	return "", badRequest("prompt", "prompt must be a string (token-id prompts are not supported)")
}

func (g *Gateway) now() time.Time { return g.deps.Now() }
