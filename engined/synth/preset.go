package synth

import (
	"fmt"
	"sort"
	"strings"
)

// Preset is a model shape. The vocabulary size comes from the vocabulary
// source, so a preset does not fix it.
type Preset struct {
	Name      string
	Dim       int
	HiddenDim int
	NLayers   int
	NHeads    int
	NKVHeads  int
	Context   int
	RopeTheta float32
	NormEps   float32
	Tied      bool // output projection shares the token embedding
}

// presets are the shapes krserve benchmarks and ships with.
var presets = map[string]Preset{
	// Karpathy's TinyStories 260K.
	"stories260k": {Name: "stories260k", Dim: 64, HiddenDim: 172, NLayers: 5, NHeads: 8, NKVHeads: 4, Context: 512,
		RopeTheta: 10000, NormEps: 1e-5, Tied: true},
	// llama2.c stories110M.
	"110m": {Name: "110m", Dim: 768, HiddenDim: 2048, NLayers: 12, NHeads: 12, NKVHeads: 12, Context: 1024,
		RopeTheta: 10000, NormEps: 1e-5, Tied: true},
	// TinyLlama 1.1B.
	"tinyllama-1.1b": {Name: "tinyllama-1.1b", Dim: 2048, HiddenDim: 5632, NLayers: 22, NHeads: 32, NKVHeads: 4,
		Context: 2048, RopeTheta: 10000, NormEps: 1e-5, Tied: false},
	// The default model of `make run` and `krserve up`: small enough to
	// synthesize in a second and decode hundreds of tokens per second on
	// one core, with grouped-query attention so every code path runs.
	"default": {Name: "default", Dim: 256, HiddenDim: 768, NLayers: 4, NHeads: 8, NKVHeads: 4, Context: 2048,
		RopeTheta: 10000, NormEps: 1e-5, Tied: true},
}

// PresetNames lists the preset names, sorted.
func PresetNames() []string {
	names := make([]string, 0, len(presets))
	for n := range presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// LookupPreset returns the named preset (case-insensitive) or ErrPreset.
func LookupPreset(name string) (Preset, error) {
	p, ok := presets[strings.ToLower(name)]
	if !ok {
		return Preset{}, fmt.Errorf("%w: %q (have %s)", ErrPreset, name, strings.Join(PresetNames(), ", "))
	}
	return p, nil
}

// Validate reports ErrPreset for an impossible shape.
func (p Preset) Validate() error {
	switch {
	case p.Dim <= 0 || p.HiddenDim <= 0 || p.NLayers <= 0 || p.NHeads <= 0 || p.NKVHeads <= 0 || p.Context <= 0:
		return fmt.Errorf("%w: %s has a non-positive dimension", ErrPreset, p.Name)
	case p.Dim%p.NHeads != 0 || (p.Dim/p.NHeads)%2 != 0:
		return fmt.Errorf("%w: %s: %d heads must divide dim %d into even head sizes", ErrPreset, p.Name, p.NHeads, p.Dim)
	case p.NHeads%p.NKVHeads != 0:
		return fmt.Errorf("%w: %s: %d heads are not a multiple of %d kv heads", ErrPreset, p.Name, p.NHeads, p.NKVHeads)
	case !(p.RopeTheta > 0) || !(p.NormEps > 0):
		return fmt.Errorf("%w: %s: rope theta %v, norm eps %v", ErrPreset, p.Name, p.RopeTheta, p.NormEps)
	}
	return nil
}
