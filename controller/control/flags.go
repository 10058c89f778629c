package control

import (
	"fmt"

	"github.com/krserve/krserve/config"
)

// FlagsFromRuntime turns the switches of a runtime file into overrides:
// every kv_cache_pool and parallel_tokenizer switch the overrides can carry
// is set to the file's value. Knobs that are not switches (sizes, threads)
// stay with the workers' own configuration.
func FlagsFromRuntime(rt config.Runtime) VariantFlags {
	k, p := rt.CPU.KVCachePool, rt.CPU.ParallelTokenizer
	return VariantFlags{
		KVCachePool:       &KVPoolFlags{Enabled: ptr(k.Enabled), PrefixMatching: ptr(k.PrefixMatching), LRUEviction: ptr(k.LRUEviction)},
		ParallelTokenizer: &TokenizerFlags{Enabled: ptr(p.Enabled), BatchMode: ptr(p.BatchMode), FallbackOnError: ptr(p.FallbackOnError)},
	}
}

// Apply returns rt with the overrides applied and validated; a combination
// the runtime rejects (prefix matching on a disabled pool) is an error
// wrapping config.ErrInvalid, and the worker should keep its current
// configuration.
func (f VariantFlags) Apply(rt config.Runtime) (config.Runtime, error) {
	if k := f.KVCachePool; k != nil {
		set(&rt.CPU.KVCachePool.Enabled, k.Enabled)
		set(&rt.CPU.KVCachePool.PrefixMatching, k.PrefixMatching)
		set(&rt.CPU.KVCachePool.LRUEviction, k.LRUEviction)
	}
	if p := f.ParallelTokenizer; p != nil {
		set(&rt.CPU.ParallelTokenizer.Enabled, p.Enabled)
		set(&rt.CPU.ParallelTokenizer.BatchMode, p.BatchMode)
		set(&rt.CPU.ParallelTokenizer.FallbackOnError, p.FallbackOnError)
	}
	if err := rt.Validate(); err != nil {
		return config.Runtime{}, fmt.Errorf("control: flag overrides: %w", err)
	}
	return rt, nil
}

// Merge returns f with every field that o sets taken from o.
func (f VariantFlags) Merge(o VariantFlags) VariantFlags {
	out := f.Clone()
	o = o.Clone()
	if o.KVCachePool != nil {
		if out.KVCachePool == nil {
			out.KVCachePool = &KVPoolFlags{}
		}
		setPtr(&out.KVCachePool.Enabled, o.KVCachePool.Enabled)
		setPtr(&out.KVCachePool.PrefixMatching, o.KVCachePool.PrefixMatching)
		setPtr(&out.KVCachePool.LRUEviction, o.KVCachePool.LRUEviction)
	}
	if o.ParallelTokenizer != nil {
		if out.ParallelTokenizer == nil {
			out.ParallelTokenizer = &TokenizerFlags{}
		}
		setPtr(&out.ParallelTokenizer.Enabled, o.ParallelTokenizer.Enabled)
		setPtr(&out.ParallelTokenizer.BatchMode, o.ParallelTokenizer.BatchMode)
		setPtr(&out.ParallelTokenizer.FallbackOnError, o.ParallelTokenizer.FallbackOnError)
	}
	if o.Slowdown != nil {
		out.Slowdown = o.Slowdown
	}
	return out
}

// Disabled returns the overrides that switch off every feature f touches:
// a KV pool override becomes enabled=false with prefix matching off (the
// runtime rejects prefix matching on a disabled pool), a tokenizer override
// becomes enabled=false, and the fault knob is cleared. Features f does not
// mention stay untouched, so a regression rollback turns off exactly what
// the variant's overrides had changed.
func (f VariantFlags) Disabled() VariantFlags {
	out := VariantFlags{}
	if f.KVCachePool != nil {
		out.KVCachePool = &KVPoolFlags{Enabled: ptr(false), PrefixMatching: ptr(false)}
	}
	if f.ParallelTokenizer != nil {
		out.ParallelTokenizer = &TokenizerFlags{Enabled: ptr(false)}
	}
	return out
}

func ptr[T any](v T) *T { return &v }

func set(dst *bool, v *bool) {
	if v != nil {
		*dst = *v
	}
}

func setPtr(dst **bool, v *bool) {
	if v != nil {
		*dst = v
	}
}
