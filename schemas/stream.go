package schemas

// Kind tells which of the stream message shapes a StreamMsg is.
type Kind string

// Stream message kinds. A stream is zero or more KindToken messages followed
// by exactly one KindFinal or KindError message.
const (
	KindToken Kind = "token"
	KindFinal Kind = "final"
	KindError Kind = "error"
)

// FinishReason says why generation ended.
type FinishReason string

// Finish reasons.
const (
	FinishStop     FinishReason = "stop"     // EOS, a stop id or a stop string
	FinishLength   FinishReason = "length"   // max_tokens or the context length
	FinishCanceled FinishReason = "canceled" // cancelled by the producer
)

// Usage counts tokens for one request.
type Usage struct {
	PromptTokens    int32 `msgpack:"prompt_tokens" json:"prompt_tokens"`
	CachedTokens    int32 `msgpack:"cached_tokens" json:"cached_tokens"` // prompt tokens whose KV came from the cache
	GeneratedTokens int32 `msgpack:"generated_tokens" json:"generated_tokens"`
}

// Timings of one request, in microseconds.
type Timings struct {
	QueueUs    int64 `msgpack:"queue_us" json:"queue_us"`       // admission wait in the engine
	TokenizeUs int64 `msgpack:"tokenize_us" json:"tokenize_us"` // tokenizer worker time incl. micro-batching
	PrefillUs  int64 `msgpack:"prefill_us" json:"prefill_us"`
	TTFTUs     int64 `msgpack:"ttft_us" json:"ttft_us"`   // request received by the tokenizer → first token published
	TotalUs    int64 `msgpack:"total_us" json:"total_us"` // request received → final message
}

// StreamMsg is one message of a token stream, published to the request's
// reply inbox or token subject. Seq numbers start at 0 and grow by one per
// message of the stream (token, final and error alike), so consumers can
// detect gaps.
type StreamMsg struct {
	V         int    `msgpack:"v"`
	Kind      Kind   `msgpack:"kind"`
	RequestID string `msgpack:"id"`
	Seq       uint64 `msgpack:"seq"`
	// KindToken
	IDs  []int32 `msgpack:"ids,omitempty"`
	Text string  `msgpack:"text,omitempty"` // UTF-8 text delta; never splits a character
	// KindFinal
	FinishReason FinishReason `msgpack:"finish_reason,omitempty"`
	Usage        *Usage       `msgpack:"usage,omitempty"`
	Timings      *Timings     `msgpack:"timings,omitempty"`
	Worker       string       `msgpack:"worker,omitempty"`
	Variant      string       `msgpack:"variant,omitempty"`
	// KindError
	Error *Error `msgpack:"error,omitempty"`
}

// Validate implements Message.
func (s *StreamMsg) Validate() error {
	const m = "StreamMsg"
	if s.RequestID == "" {
		return invalid(m, "id", "missing")
	}
	switch s.Kind {
	case KindToken:
		if len(s.IDs) == 0 && s.Text == "" {
			return invalid(m, "ids", "a token message carries ids or text")
		}
	case KindFinal:
		switch s.FinishReason {
		case FinishStop, FinishLength, FinishCanceled:
		default:
			return invalid(m, "finish_reason", "%q", s.FinishReason)
		}
		if s.Usage == nil {
			return invalid(m, "usage", "missing in a final message")
		}
	case KindError:
		if s.Error == nil {
			return invalid(m, "error", "missing in an error message")
		}
		return s.Error.Validate()
	default:
		return invalid(m, "kind", "%q (want token, final or error)", s.Kind)
	}
	return nil
}

func (s *StreamMsg) version() int { return s.V }

// Terminal reports whether s ends its stream.
func (s *StreamMsg) Terminal() bool { return s.Kind == KindFinal || s.Kind == KindError }

// Cancel asks the workers serving a request to stop it and free its KV. It
// is published on krserve.v1.cancel.<id>.
type Cancel struct {
	V         int    `msgpack:"v"`
	RequestID string `msgpack:"id"`
	Reason    string `msgpack:"reason,omitempty"`
}

// Validate implements Message.
func (c *Cancel) Validate() error {
	if c.RequestID == "" {
		return invalid("Cancel", "id", "missing")
	}
	return validID("Cancel", "id", c.RequestID)
}

func (c *Cancel) version() int { return c.V }
