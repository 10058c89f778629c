package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/krserve/krserve/bus"
	"github.com/nats-io/nats.go/jetstream"
)

// Keys of the control bucket.
const (
	KeyWeights  = "weights"
	KeyFlags    = "flags"
	KeyRollout  = "rollout"
	KeyLease    = "lease"
	KeyBaseline = "baseline_profile"
)

// History is how many revisions the bucket keeps per key.
const History = 5

var (
	// ErrBadWeights means a Weights value is out of range (a percentage
	// outside 0..100, canaries summing over 100, a canary without a
	// baseline). Fix the value; nothing was written.
	ErrBadWeights = errors.New("control: invalid weights")
	// ErrBadFlags means a FlagOverrides value is invalid (an empty variant
	// name, a negative or non-finite slowdown). Nothing was written.
	ErrBadFlags = errors.New("control: invalid flag overrides")
	// ErrWatchClosed means the watch subscription closed before ctx was
	// done (the connection closed). Reconnect and watch again.
	ErrWatchClosed = errors.New("control: watch closed")
	// ErrConflict means a revision-checked update kept losing to other
	// writers. Retry later.
	ErrConflict = errors.New("control: concurrent update conflict")
)

// Weights is the traffic split. Every canary variant owns Canary[name]
// percent of the traffic; the baseline takes the rest.
type Weights struct {
	Baseline string             `json:"baseline"`
	Canary   map[string]float64 `json:"canary"` // percent
	// Revision is the KV revision the value was read at (0 when not read
	// from the bucket). It is not stored.
	Revision uint64 `json:"-"`
}

// Validate checks the percentages.
func (w Weights) Validate() error {
	sum := 0.0
	for v, p := range w.Canary {
		switch {
		case v == "":
			return fmt.Errorf("%w: empty canary variant name", ErrBadWeights)
		case v == w.Baseline:
			return fmt.Errorf("%w: %q is both baseline and canary", ErrBadWeights, v)
		case math.IsNaN(p) || p < 0 || p > 100:
			return fmt.Errorf("%w: weight of %q is %v, want 0..100", ErrBadWeights, v, p)
		}
		sum += p
	}
	if sum > 100+1e-9 {
		return fmt.Errorf("%w: canary weights sum to %v %%", ErrBadWeights, sum)
	}
	if len(w.Canary) > 0 && w.Baseline == "" {
		return fmt.Errorf("%w: canary weights without a baseline variant", ErrBadWeights)
	}
	return nil
}

// Equal reports whether two splits send the same traffic to the same
// variants (zero-weight canaries are the same as absent ones; Revision is
// ignored).
func (w Weights) Equal(o Weights) bool {
	if w.Baseline != o.Baseline {
		return false
	}
	nz := func(m map[string]float64) map[string]float64 {
		out := map[string]float64{}
		for k, v := range m {
			if v != 0 {
				out[k] = v
			}
		}
		return out
	}
	return maps.Equal(nz(w.Canary), nz(o.Canary))
}

// FlagOverrides maps a variant to its overrides of the runtime flags.
type FlagOverrides map[string]VariantFlags

// VariantFlags overrides some runtime flags of one variant. A nil field
// keeps the worker's own setting.
type VariantFlags struct {
	KVCachePool       *KVPoolFlags    `json:"kv_cache_pool,omitempty"`
	ParallelTokenizer *TokenizerFlags `json:"parallel_tokenizer,omitempty"`
	// Slowdown is a test-only fault knob: engines of the variant stretch
	// each decode step by this fraction (0.2 = 20 % slower).
	Slowdown *float64 `json:"fault_slowdown,omitempty"`
}

// KVPoolFlags overrides config.KVCachePool switches.
type KVPoolFlags struct {
	Enabled        *bool `json:"enabled,omitempty"`
	PrefixMatching *bool `json:"prefix_matching,omitempty"`
	LRUEviction    *bool `json:"lru_eviction,omitempty"`
}

// TokenizerFlags overrides config.ParallelTokenizer switches.
type TokenizerFlags struct {
	Enabled         *bool `json:"enabled,omitempty"`
	BatchMode       *bool `json:"batch_mode,omitempty"`
	FallbackOnError *bool `json:"fallback_on_error,omitempty"`
}

// IsZero reports whether f overrides nothing.
func (f VariantFlags) IsZero() bool {
	return f.KVCachePool == nil && f.ParallelTokenizer == nil && f.Slowdown == nil
}

// Validate checks the overrides of every variant.
func (o FlagOverrides) Validate() error {
	for v, f := range o {
		if v == "" {
			return fmt.Errorf("%w: empty variant name", ErrBadFlags)
		}
		if s := f.Slowdown; s != nil && (math.IsNaN(*s) || math.IsInf(*s, 0) || *s < 0 || *s > 100) {
			return fmt.Errorf("%w: %s: fault_slowdown %v, want 0..100", ErrBadFlags, v, *s)
		}
	}
	return nil
}

// Clone returns a deep copy.
func (o FlagOverrides) Clone() FlagOverrides {
	out := make(FlagOverrides, len(o))
	for k, v := range o {
		out[k] = v.Clone()
	}
	return out
}

// Clone returns a deep copy.
func (f VariantFlags) Clone() VariantFlags {
	var out VariantFlags
	if f.KVCachePool != nil {
		k := KVPoolFlags{Enabled: cloneBool(f.KVCachePool.Enabled), PrefixMatching: cloneBool(f.KVCachePool.PrefixMatching), LRUEviction: cloneBool(f.KVCachePool.LRUEviction)}
		out.KVCachePool = &k
	}
	if f.ParallelTokenizer != nil {
		t := TokenizerFlags{Enabled: cloneBool(f.ParallelTokenizer.Enabled), BatchMode: cloneBool(f.ParallelTokenizer.BatchMode), FallbackOnError: cloneBool(f.ParallelTokenizer.FallbackOnError)}
		out.ParallelTokenizer = &t
	}
	if f.Slowdown != nil {
		s := *f.Slowdown
		out.Slowdown = &s
	}
	return out
}

func cloneBool(b *bool) *bool {
	if b == nil {
		return nil
	}
	v := *b
	return &v
}

// Open creates the control bucket (history History) or binds to it when it
// exists, with whatever configuration it has.
func Open(ctx context.Context, js jetstream.JetStream) (jetstream.KeyValue, error) {
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      bus.ControlBucket,
		Description: "krserve canary weights, rollout state and feature-flag overrides",
		History:     History,
	})
	if errors.Is(err, jetstream.ErrBucketExists) {
		kv, err = js.KeyValue(ctx, bus.ControlBucket)
	}
	if err != nil {
		return nil, fmt.Errorf("control: open bucket %s: %w", bus.ControlBucket, err)
	}
	return kv, nil
}

// GetWeights reads the weights; a missing key gives the zero Weights.
func GetWeights(ctx context.Context, kv jetstream.KeyValue) (Weights, error) {
	var w Weights
	rev, err := getJSON(ctx, kv, KeyWeights, &w)
	if err != nil {
		return Weights{}, err
	}
	w.Revision = rev
	return w, nil
}

// PutWeights validates and writes the weights.
func PutWeights(ctx context.Context, kv jetstream.KeyValue, w Weights) error {
	if err := w.Validate(); err != nil {
		return err
	}
	if w.Canary == nil {
		w.Canary = map[string]float64{}
	}
	return putJSON(ctx, kv, KeyWeights, w)
}

// GetFlags reads the overrides and their revision (0 when the key is
// missing, with empty overrides).
func GetFlags(ctx context.Context, kv jetstream.KeyValue) (FlagOverrides, uint64, error) {
	o := FlagOverrides{}
	rev, err := getJSON(ctx, kv, KeyFlags, &o)
	if err != nil {
		return nil, 0, err
	}
	if o == nil {
		o = FlagOverrides{}
	}
	return o, rev, nil
}

// PutFlags validates and writes the overrides of every variant.
func PutFlags(ctx context.Context, kv jetstream.KeyValue, o FlagOverrides) error {
	if o == nil {
		o = FlagOverrides{}
	}
	if err := o.Validate(); err != nil {
		return err
	}
	return putJSON(ctx, kv, KeyFlags, o)
}

// UpdateFlags applies fn to the current overrides and writes the result
// only if nobody wrote in between, retrying a few times on conflict
// (ErrConflict after that). fn may modify and return its argument.
func UpdateFlags(ctx context.Context, kv jetstream.KeyValue, fn func(FlagOverrides) FlagOverrides) error {
	for range 8 {
		cur, rev, err := GetFlags(ctx, kv)
		if err != nil {
			return err
		}
		next := fn(cur)
		if next == nil {
			next = FlagOverrides{}
		}
		if err := next.Validate(); err != nil {
			return err
		}
		b, err := json.Marshal(next)
		if err != nil {
			return fmt.Errorf("control: encode %s: %w", KeyFlags, err)
		}
		if rev == 0 {
			_, err = kv.Create(ctx, KeyFlags, b)
		} else {
			_, err = kv.Update(ctx, KeyFlags, b, rev)
		}
		switch {
		case err == nil:
			return nil
		case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch):
			continue
		default:
			return fmt.Errorf("control: update %s: %w", KeyFlags, err)
		}
	}
	return fmt.Errorf("%w: key %s", ErrConflict, KeyFlags)
}

// WatchWeights calls fn with the current weights (the zero Weights when the
// key is missing) and again on every change, until ctx is done (then it
// returns nil). fn runs on the caller's goroutine.
func WatchWeights(ctx context.Context, kv jetstream.KeyValue, fn func(Weights)) error {
	return watch(ctx, kv, KeyWeights, func(b []byte, rev uint64, deleted bool) bool {
		var w Weights
		if !deleted {
			if json.Unmarshal(b, &w) != nil || w.Validate() != nil {
				return false
			}
		}
		w.Revision = rev
		fn(w)
		return true
	})
}

// WatchFlags calls fn with the current overrides (empty when the key is
// missing) and again on every change, until ctx is done (then it returns
// nil). fn runs on the caller's goroutine.
func WatchFlags(ctx context.Context, kv jetstream.KeyValue, fn func(FlagOverrides)) error {
	return watch(ctx, kv, KeyFlags, func(b []byte, _ uint64, deleted bool) bool {
		o := FlagOverrides{}
		if !deleted {
			if json.Unmarshal(b, &o) != nil || o.Validate() != nil {
				return false
			}
			if o == nil {
				o = FlagOverrides{}
			}
		}
		fn(o)
		return true
	})
}

// watch delivers the values of one key to deliver, which reports whether
// it accepted the value. If the initial state holds no acceptable value,
// deliver is called once with deleted set.
func watch(ctx context.Context, kv jetstream.KeyValue, key string, deliver func(b []byte, rev uint64, deleted bool) bool) error {
	w, err := kv.Watch(ctx, key)
	if err != nil {
		return fmt.Errorf("control: watch %s: %w", key, err)
	}
	defer func() { _ = w.Stop() }()
	delivered := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("%w: key %s", ErrWatchClosed, key)
			}
			if e == nil { // end of the initial values
				if !delivered {
					deliver(nil, 0, true)
					delivered = true
				}
				continue
			}
			del := e.Operation() != jetstream.KeyValuePut
			if deliver(e.Value(), e.Revision(), del) {
				delivered = true
			}
		}
	}
}

// getJSON decodes a key into v and returns its revision; a missing or
// deleted key leaves v alone and returns 0.
func getJSON(ctx context.Context, kv jetstream.KeyValue, key string, v any) (uint64, error) {
	e, err := kv.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("control: get %s: %w", key, err)
	}
	if err := json.Unmarshal(e.Value(), v); err != nil {
		return 0, fmt.Errorf("control: decode %s (revision %d): %w", key, e.Revision(), err)
	}
	return e.Revision(), nil
}

func putJSON(ctx context.Context, kv jetstream.KeyValue, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("control: encode %s: %w", key, err)
	}
	if _, err := kv.Put(ctx, key, b); err != nil {
		return fmt.Errorf("control: put %s: %w", key, err)
	}
	return nil
}

// Variants lists the canary variants with a positive weight, sorted.
func (w Weights) Variants() []string {
	var out []string
	for v, p := range w.Canary {
		if p > 0 {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out
}
