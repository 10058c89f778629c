package sample

import (
	"bytes"
	"fmt"
	"slices"
)

// FinishReason says why generation ended, as reported to clients.
type FinishReason string

// Finish reasons.
const (
	// FinishStop: a stop token (EOS, a stop id) or a stop string.
	FinishStop FinishReason = "stop"
	// FinishLength: max tokens or the context length.
	FinishLength FinishReason = "length"
)

// StopConfig lists the stop conditions of one request.
type StopConfig struct {
	// MaxTokens ends generation after that many tokens; 0 = no limit.
	MaxTokens int
	// IDs end generation when sampled; the id itself is not output.
	IDs []int32
	// Strings end generation when they appear in the decoded text, also
	// across token boundaries; the text from the match on is not output.
	Strings []string
}

// Validate reports ErrMaxTokens or ErrStopString.
func (c StopConfig) Validate() error {
	if c.MaxTokens < 0 {
		return fmt.Errorf("%w: got %d", ErrMaxTokens, c.MaxTokens)
	}
	for i, s := range c.Strings {
		if s == "" {
			return fmt.Errorf("%w: stop string %d is empty", ErrStopString, i)
		}
	}
	return nil
}

// Stopper applies a StopConfig to a stream of generated tokens and their
// decoded text. It holds back text that may be the start of a stop string
// until the next pieces decide it, so clients never see a partial stop
// string. One Stopper serves one sequence.
type Stopper struct {
	cfg    StopConfig
	held   []byte
	n      int
	done   bool
	reason FinishReason
}

// NewStopper validates c and returns a Stopper.
func NewStopper(c StopConfig) (*Stopper, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c.IDs = slices.Clone(c.IDs)
	c.Strings = slices.Clone(c.Strings)
	return &Stopper{cfg: c}, nil
}

// IsStopID reports whether id is one of the stop ids.
func (s *Stopper) IsStopID(id int32) bool { return slices.Contains(s.cfg.IDs, id) }

// Push records generated token id whose decoded text is piece. It returns
// the text that may now be shown and whether generation is over (see
// Reason). After done, Push returns ("", true).
func (s *Stopper) Push(id int32, piece string) (emit string, done bool) {
	if s.done {
		return "", true
	}
	if s.IsStopID(id) {
		return s.finish(FinishStop, len(s.held)), true
	}
	s.n++
	s.held = append(s.held, piece...)
	match := -1
	for _, stop := range s.cfg.Strings {
		if i := bytes.Index(s.held, []byte(stop)); i >= 0 && (match < 0 || i < match) {
			match = i
		}
	}
	if match >= 0 {
		return s.finish(FinishStop, match), true
	}
	if s.cfg.MaxTokens > 0 && s.n >= s.cfg.MaxTokens {
		return s.finish(FinishLength, len(s.held)), true
	}
	keep := 0
	for _, stop := range s.cfg.Strings {
		keep = max(keep, overlap(s.held, stop))
	}
	cut := len(s.held) - keep
	emit = string(s.held[:cut])
	s.held = append(s.held[:0], s.held[cut:]...)
	return emit, false
}

// Finish ends generation for a reason outside the Stopper (context full,
// cancellation) and returns the held-back text.
func (s *Stopper) Finish(r FinishReason) string {
	if s.done {
		return ""
	}
	return s.finish(r, len(s.held))
}

func (s *Stopper) finish(r FinishReason, upto int) string {
	s.done, s.reason = true, r
	out := string(s.held[:upto])
	s.held = s.held[:0]
	return out
}

// Done reports whether generation has ended.
func (s *Stopper) Done() bool { return s.done }

// Reason returns why generation ended ("" while it goes on).
func (s *Stopper) Reason() FinishReason { return s.reason }

// Count returns the number of tokens pushed, stop ids excluded.
func (s *Stopper) Count() int { return s.n }

// overlap returns the length of the longest proper prefix of stop that
// text ends with.
func overlap(text []byte, stop string) int {
	for k := min(len(stop)-1, len(text)); k > 0; k-- {
		if string(text[len(text)-k:]) == stop[:k] {
			return k
		}
	}
	return 0
}
