package kvpool

import (
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// gathered returns name{label=value} -> value for every sample in reg.
func gathered(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "{" + l.GetName() + "=" + l.GetValue() + "}"
			}
			switch {
			case m.GetCounter() != nil:
				out[key] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[key] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	a := newArena(8, 4)
	p, err := New(testConfig(8, 4), Deps{CopyBlock: a.copyBlock, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	e := &engine{p: p, a: a}
	toks := seqTokens(0, 10)
	s, _, err := e.run(AcquireRequest{SeqID: "a", Tokens: toks}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Release()
	if _, err := p.Acquire(AcquireRequest{SeqID: "b", Tokens: toks}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Acquire(AcquireRequest{SeqID: "c", Tokens: seqTokens(100, 32)}); !errors.Is(err, ErrPoolExhausted) {
		t.Fatalf("want exhaustion, got %v", err)
	}
	got := gathered(t, reg)
	for name, want := range map[string]float64{
		"krserve_kvpool_prefix_hit_tokens_total":  8,
		"krserve_kvpool_prefix_miss_tokens_total": 12,
		"krserve_kvpool_exhausted_total":          1,
		"krserve_kvpool_cow_copies_total":         0,
		"krserve_kvpool_evictions_total":          0,
		"krserve_kvpool_blocks{state=used}":       3,
		"krserve_kvpool_blocks{state=free}":       5,
		"krserve_kvpool_blocks{state=cached}":     0,
		"krserve_kvpool_capacity_blocks":          8,
		"krserve_kvpool_sequences":                1,
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}
	if _, err := New(testConfig(8, 4), Deps{Registerer: reg}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("second pool on one registry: %v, want ErrInvalidConfig", err)
	}
}
