package schemas

import (
	"math"
	"unicode/utf8"
)

// Limits enforced by Validate. Workers may enforce tighter ones (context
// length, configured maximum tokens).
const (
	MaxIDLen        = 128
	MaxStopStrings  = 16
	MaxStopLen      = 256
	MaxMessages     = 1024
	MaxPriority     = 1000
	MaxTemperature  = 100
	MaxPromptBytes  = 768 << 10 // payloads must stay under the NATS 1 MiB default
	MaxTokensLimit  = 1 << 20
	MaxBatchTexts   = 4096
	MaxPenaltyValue = 100
)

// ChatMessage is one turn of a chat. Role is "system", "user", "assistant"
// or "tool".
type ChatMessage struct {
	Role    string `msgpack:"role"`
	Content string `msgpack:"content"`
}

// Sampling holds the decoding parameters. The zero value means greedy.
type Sampling struct {
	Temperature       float32 `msgpack:"temperature,omitempty"`        // 0 = greedy
	TopK              int32   `msgpack:"top_k,omitempty"`              // 0 = off
	TopP              float32 `msgpack:"top_p,omitempty"`              // 0 or 1 = off
	MinP              float32 `msgpack:"min_p,omitempty"`              // 0 = off
	RepetitionPenalty float32 `msgpack:"repetition_penalty,omitempty"` // 0 or 1 = off
	Seed              uint64  `msgpack:"seed,omitempty"`               // 0 = derived from the request id
}

// Validate checks the ranges of the sampling parameters.
func (s *Sampling) Validate(msg string) error {
	switch {
	case !finite(s.Temperature) || s.Temperature < 0 || s.Temperature > MaxTemperature:
		return invalid(msg, "sampling.temperature", "%v is outside [0, %d]", s.Temperature, MaxTemperature)
	case s.TopK < 0:
		return invalid(msg, "sampling.top_k", "%d is negative", s.TopK)
	case !finite(s.TopP) || s.TopP < 0 || s.TopP > 1:
		return invalid(msg, "sampling.top_p", "%v is outside [0, 1]", s.TopP)
	case !finite(s.MinP) || s.MinP < 0 || s.MinP > 1:
		return invalid(msg, "sampling.min_p", "%v is outside [0, 1]", s.MinP)
	case !finite(s.RepetitionPenalty) || s.RepetitionPenalty < 0 || s.RepetitionPenalty > MaxPenaltyValue:
		return invalid(msg, "sampling.repetition_penalty", "%v is outside [0, %d]", s.RepetitionPenalty, MaxPenaltyValue)
	}
	return nil
}

func finite(f float32) bool { return !math.IsNaN(float64(f)) && !math.IsInf(float64(f), 0) }

// GenerateRequest is what a producer sends on krserve.v1.generate (core
// request/reply: the stream goes to the reply inbox) or inside a batch Job.
// Exactly one of Prompt and Messages is set.
type GenerateRequest struct {
	V              int           `msgpack:"v"`
	ID             string        `msgpack:"id,omitempty"` // request id; assigned by the tokenizer worker when empty
	Model          string        `msgpack:"model,omitempty"`
	Prompt         string        `msgpack:"prompt,omitempty"`
	Messages       []ChatMessage `msgpack:"messages,omitempty"`
	ConversationID string        `msgpack:"conversation_id,omitempty"`
	Sampling       Sampling      `msgpack:"sampling,omitempty"`
	Stop           []string      `msgpack:"stop,omitempty"`
	StopIDs        []int32       `msgpack:"stop_ids,omitempty"`
	MaxTokens      int32         `msgpack:"max_tokens,omitempty"` // 0 = the worker's default
	// TokenSubject, when set, receives the stream instead of the reply inbox
	// (for consumers that subscribe to krserve.v1.tokens.<id>).
	TokenSubject   string `msgpack:"token_subject,omitempty"`
	Priority       int32  `msgpack:"priority,omitempty"`    // higher runs first; 0 = normal
	DeadlineUnixMs int64  `msgpack:"deadline_ms,omitempty"` // absolute deadline; 0 = none
	CacheSalt      string `msgpack:"cache_salt,omitempty"`  // KV isolation key (tenant); blocks are shared only within one salt
	AddBOS         *bool  `msgpack:"add_bos,omitempty"`     // nil = the vocabulary's default
}

// Validate implements Message.
func (r *GenerateRequest) Validate() error {
	const m = "GenerateRequest"
	if r.ID != "" {
		if err := validID(m, "id", r.ID); err != nil {
			return err
		}
	}
	switch {
	case r.Prompt == "" && len(r.Messages) == 0:
		return invalid(m, "prompt", "empty: set prompt or messages")
	case r.Prompt != "" && len(r.Messages) > 0:
		return invalid(m, "prompt", "both prompt and messages are set")
	case len(r.Prompt) > MaxPromptBytes:
		return invalid(m, "prompt", "%d bytes exceeds %d", len(r.Prompt), MaxPromptBytes)
	case len(r.Messages) > MaxMessages:
		return invalid(m, "messages", "%d messages exceeds %d", len(r.Messages), MaxMessages)
	case r.MaxTokens < 0 || r.MaxTokens > MaxTokensLimit:
		return invalid(m, "max_tokens", "%d is outside [0, %d]", r.MaxTokens, MaxTokensLimit)
	case r.Priority < -MaxPriority || r.Priority > MaxPriority:
		return invalid(m, "priority", "%d is outside [-%d, %d]", r.Priority, MaxPriority, MaxPriority)
	case r.DeadlineUnixMs < 0:
		return invalid(m, "deadline_ms", "%d is negative", r.DeadlineUnixMs)
	case len(r.Stop) > MaxStopStrings:
		return invalid(m, "stop", "%d stop strings exceeds %d", len(r.Stop), MaxStopStrings)
	case len(r.StopIDs) > MaxStopStrings:
		return invalid(m, "stop_ids", "%d stop ids exceeds %d", len(r.StopIDs), MaxStopStrings)
	case len(r.CacheSalt) > MaxIDLen:
		return invalid(m, "cache_salt", "%d bytes exceeds %d", len(r.CacheSalt), MaxIDLen)
	case len(r.Model) > MaxIDLen:
		return invalid(m, "model", "%d bytes exceeds %d", len(r.Model), MaxIDLen)
	}
	// Text must be UTF-8: the tokenizer would otherwise encode the stray
	// bytes through byte fallback and the model would see a different text
	// than any JSON gateway can express.
	if !utf8.ValidString(r.Prompt) {
		return invalid(m, "prompt", "not valid UTF-8")
	}
	total := len(r.Prompt)
	for i, msg := range r.Messages {
		if !utf8.ValidString(msg.Content) {
			return invalid(m, "messages", "message %d is not valid UTF-8", i)
		}
		switch msg.Role {
		case "system", "user", "assistant", "tool":
		default:
			return invalid(m, "messages", "message %d has role %q (want system, user, assistant or tool)", i, msg.Role)
		}
		total += len(msg.Content)
	}
	if total > MaxPromptBytes {
		return invalid(m, "messages", "%d bytes of content exceeds %d", total, MaxPromptBytes)
	}
	for i, s := range r.Stop {
		if s == "" || len(s) > MaxStopLen {
			return invalid(m, "stop", "stop string %d is empty or longer than %d bytes", i, MaxStopLen)
		}
		if !utf8.ValidString(s) {
			return invalid(m, "stop", "stop string %d is not valid UTF-8", i)
		}
	}
	for i, id := range r.StopIDs {
		if id < 0 {
			return invalid(m, "stop_ids", "stop id %d is negative (%d)", i, id)
		}
	}
	if r.ConversationID != "" {
		if err := validID(m, "conversation_id", r.ConversationID); err != nil {
			return err
		}
	}
	if r.TokenSubject != "" {
		if err := validSubject(m, "token_subject", r.TokenSubject); err != nil {
			return err
		}
	}
	return r.Sampling.Validate(m)
}

func (r *GenerateRequest) version() int { return r.V }

// validID accepts ids usable as one NATS subject token.
func validID(msg, field, id string) error {
	if len(id) > MaxIDLen {
		return invalid(msg, field, "%d bytes exceeds %d", len(id), MaxIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == ':' || c == '=') {
			return invalid(msg, field, "%q: only letters, digits and - _ : = are allowed", id)
		}
	}
	return nil
}

// validSubject accepts a literal NATS subject (no wildcards, no empty tokens).
func validSubject(msg, field, s string) error {
	if len(s) > 512 {
		return invalid(msg, field, "subject longer than 512 bytes")
	}
	prevDot := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if prevDot {
				return invalid(msg, field, "%q has an empty token", s)
			}
			prevDot = true
			continue
		case c == '*' || c == '>' || c <= ' ' || c == 0x7f:
			return invalid(msg, field, "%q is not a literal subject", s)
		}
		prevDot = false
	}
	if prevDot {
		return invalid(msg, field, "%q has an empty token", s)
	}
	return nil
}
