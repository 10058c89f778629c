package sched

import (
	"time"

	"github.com/krserve/krserve/schemas"
)

// Sampler picks the next token from a row of logits. history is every token
// of the sequence so far (prompt and generated), for repetition penalties.
// A Sampler belongs to one request.
type Sampler interface {
	Sample(logits []float32, history []int32) int32
}

// TextDecoder turns generated ids into text deltas that never split a UTF-8
// character. A TextDecoder belongs to one request.
type TextDecoder interface {
	Push(id int32) string
	Flush() string
}

// Sink receives a request's output on the scheduler goroutine. Calls must be
// quick (hand off to a publisher); exactly one of Final and Fail ends the
// request.
type Sink interface {
	Token(ids []int32, text string)
	Final(r Result)
	Fail(err *schemas.Error)
}

// Request is one generation admitted through Submit.
type Request struct {
	ID             string
	Prompt         []int32
	ConversationID string
	Salt           string
	Sampler        Sampler
	Decoder        TextDecoder // nil: no text deltas, stop strings disabled
	StopIDs        []int32     // besides the model's EOS ids
	Stop           []string
	MaxTokens      int // 0 = Config.DefaultMaxTokens
	Priority       int
	Deadline       time.Time // zero = none
	Received       time.Time // when the pipeline received the request (TTFT origin); zero = Submit time
	Sink           Sink
}

// Result is the outcome of a finished request.
type Result struct {
	Reason  schemas.FinishReason
	Usage   schemas.Usage
	Timings schemas.Timings
	IDs     []int32 // generated ids
}
