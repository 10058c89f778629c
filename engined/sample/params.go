package sample

import (
	"errors"
	"fmt"
	"math"
)

// Sentinel errors of Params.Validate and StopConfig.Validate. Each names
// the request field to fix; a server maps them to a 400-style rejection.
var (
	ErrTemperature = errors.New("sample: temperature must be a finite number >= 0")
	ErrTopK        = errors.New("sample: top_k must be >= 0")
	ErrTopP        = errors.New("sample: top_p must be in [0, 1]")
	ErrMinP        = errors.New("sample: min_p must be in [0, 1)")
	ErrPenalty     = errors.New("sample: repetition penalty must be a finite number > 0 (1 = off)")
	ErrWindow      = errors.New("sample: repetition window must be >= 0")
	ErrVocab       = errors.New("sample: vocabulary size must be positive")
	ErrMaxTokens   = errors.New("sample: max tokens must be >= 0")
	ErrStopString  = errors.New("sample: stop strings must be non-empty")
)

// DefaultRepeatWindow is the number of most recent tokens the repetition
// penalty looks at when Params.RepeatWindow is 0.
const DefaultRepeatWindow = 64

// Params selects how the next token is drawn from the logits. The zero value
// is greedy decoding.
type Params struct {
	// Temperature divides the logits; 0 means greedy (argmax).
	Temperature float32
	// TopK keeps the K most likely tokens; 0 keeps all.
	TopK int
	// TopP keeps the smallest set of most likely tokens whose probability
	// reaches TopP (nucleus sampling); 0 and 1 keep all.
	TopP float32
	// MinP drops tokens whose probability is below MinP times that of the
	// most likely token; 0 keeps all.
	MinP float32
	// RepeatPenalty divides positive (multiplies negative) logits of tokens
	// seen in the last RepeatWindow tokens of the history; 0 and 1 are off.
	RepeatPenalty float32
	// RepeatWindow is how many recent tokens the penalty considers;
	// 0 means DefaultRepeatWindow.
	RepeatWindow int
	// Seed makes sampling reproducible: the same seed, params and logits
	// give the same tokens on every run and machine.
	Seed uint64
}

func finite(f float32) bool { return !math.IsNaN(float64(f)) && !math.IsInf(float64(f), 0) }

// Validate returns the first invalid field as one of the sentinel errors.
func (p Params) Validate() error {
	switch {
	case !finite(p.Temperature) || p.Temperature < 0:
		return fmt.Errorf("%w: got %v", ErrTemperature, p.Temperature)
	case p.TopK < 0:
		return fmt.Errorf("%w: got %d", ErrTopK, p.TopK)
	case !finite(p.TopP) || p.TopP < 0 || p.TopP > 1:
		return fmt.Errorf("%w: got %v", ErrTopP, p.TopP)
	case !finite(p.MinP) || p.MinP < 0 || p.MinP >= 1:
		return fmt.Errorf("%w: got %v", ErrMinP, p.MinP)
	case !finite(p.RepeatPenalty) || p.RepeatPenalty < 0:
		return fmt.Errorf("%w: got %v", ErrPenalty, p.RepeatPenalty)
	case p.RepeatWindow < 0:
		return fmt.Errorf("%w: got %d", ErrWindow, p.RepeatWindow)
	}
	return nil
}

// Greedy reports whether the params always pick the argmax.
func (p Params) Greedy() bool { return p.Temperature == 0 }
