package llama

import (
	"fmt"
	"math"

	"github.com/krserve/krserve/engined/kernels"
)

// Config holds the hyper-parameters of a Llama model, as read from a GGUF
// file or a llama2.c header.
type Config struct {
	Dim       int // residual width (embedding length)
	HiddenDim int // feed-forward width
	NLayers   int
	NHeads    int
	NKVHeads  int // grouped-query attention: NHeads is a multiple of it
	HeadDim   int // usually Dim / NHeads
	Vocab     int
	Context   int // maximum positions per sequence

	RopeTheta float32           // frequency base, 10000 for Llama 2
	RopeScale float32           // linear position scale (1/factor); 1 = none
	RopeStyle kernels.RopeStyle // RopeNorm for the llama architecture
	NormEps   float32           // RMSNorm epsilon

	// BOS and EOS are the special token ids, -1 when unknown.
	BOS, EOS int32
	// StopAtBOS marks llama2.c checkpoints, whose stories end when the
	// model emits BOS; Generate then treats BOS as a stop token.
	StopAtBOS bool
}

// QDim returns the width of the query vector, NHeads*HeadDim.
func (c Config) QDim() int { return c.NHeads * c.HeadDim }

// KVDim returns the width of one position's key (or value), NKVHeads*HeadDim.
func (c Config) KVDim() int { return c.NKVHeads * c.HeadDim }

// Validate reports ErrConfig for impossible hyper-parameters.
func (c Config) Validate() error {
	const big = 1 << 24
	for _, f := range []struct {
		name string
		v    int
	}{{"dim", c.Dim}, {"hidden dim", c.HiddenDim}, {"layers", c.NLayers}, {"heads", c.NHeads},
		{"kv heads", c.NKVHeads}, {"head dim", c.HeadDim}, {"vocab", c.Vocab}, {"context", c.Context}} {
		if f.v <= 0 || f.v > big {
			return fmt.Errorf("%w: %s %d out of range 1..%d", ErrConfig, f.name, f.v, big)
		}
	}
	switch {
	case c.NHeads%c.NKVHeads != 0:
		return fmt.Errorf("%w: %d heads are not a multiple of %d kv heads", ErrConfig, c.NHeads, c.NKVHeads)
	case c.HeadDim%2 != 0:
		return fmt.Errorf("%w: head dim %d must be even for RoPE", ErrConfig, c.HeadDim)
	case !(c.RopeTheta > 0) || math.IsInf(float64(c.RopeTheta), 0):
		return fmt.Errorf("%w: rope theta %v", ErrConfig, c.RopeTheta)
	case !(c.RopeScale > 0) || math.IsInf(float64(c.RopeScale), 0):
		return fmt.Errorf("%w: rope scale %v", ErrConfig, c.RopeScale)
	case !(c.NormEps >= 0) || c.NormEps > 1:
		return fmt.Errorf("%w: norm epsilon %v", ErrConfig, c.NormEps)
	case c.RopeStyle != kernels.RopeNorm && c.RopeStyle != kernels.RopeNeoX:
		return fmt.Errorf("%w: rope style %d", ErrConfig, c.RopeStyle)
	case c.NLayers > 4096 || c.NHeads > 4096:
		return fmt.Errorf("%w: %d layers, %d heads", ErrConfig, c.NLayers, c.NHeads)
	}
	return nil
}

func (c Config) rope(nHeads int) kernels.RopeConfig {
	return kernels.RopeConfig{HeadDim: c.HeadDim, NHeads: nHeads, Theta: c.RopeTheta, FreqScale: c.RopeScale, Style: c.RopeStyle}
}

func (c Config) attn() kernels.AttnConfig {
	return kernels.AttnConfig{NHeads: c.NHeads, NKVHeads: c.NKVHeads, HeadDim: c.HeadDim,
		Scale: float32(1 / math.Sqrt(float64(c.HeadDim)))}
}
