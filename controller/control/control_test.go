package control

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/krserve/krserve/config"
	"github.com/krserve/krserve/internal/testenv"
	"github.com/nats-io/nats.go/jetstream"
)

var update = flag.Bool("update", false, "rewrite golden files")

func openKV(t *testing.T) jetstream.KeyValue {
	t.Helper()
	_, nc := testenv.NATS(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := Open(context.Background(), js)
	if err != nil {
		t.Fatal(err)
	}
	// A second Open binds to the same bucket.
	if _, err := Open(context.Background(), js); err != nil {
		t.Fatalf("second Open: %v", err)
	}
	return kv
}

func TestWeightsValidate(t *testing.T) {
	tests := []struct {
		name string
		w    Weights
		want error
	}{
		{"zero", Weights{}, nil},
		{"baseline only", Weights{Baseline: "baseline"}, nil},
		{"one canary", Weights{Baseline: "b", Canary: map[string]float64{"c": 10}}, nil},
		{"full canary", Weights{Baseline: "b", Canary: map[string]float64{"c": 100}}, nil},
		{"negative", Weights{Baseline: "b", Canary: map[string]float64{"c": -1}}, ErrBadWeights},
		{"over 100", Weights{Baseline: "b", Canary: map[string]float64{"c": 101}}, ErrBadWeights},
		{"NaN", Weights{Baseline: "b", Canary: map[string]float64{"c": math.NaN()}}, ErrBadWeights},
		{"sum over 100", Weights{Baseline: "b", Canary: map[string]float64{"c": 60, "d": 50}}, ErrBadWeights},
		{"no baseline", Weights{Canary: map[string]float64{"c": 10}}, ErrBadWeights},
		{"baseline as canary", Weights{Baseline: "b", Canary: map[string]float64{"b": 10}}, ErrBadWeights},
		{"empty canary name", Weights{Baseline: "b", Canary: map[string]float64{"": 10}}, ErrBadWeights},
	}
	for _, tt := range tests {
		if err := tt.w.Validate(); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("%s: Validate = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestFlagsValidate(t *testing.T) {
	neg, nan := -0.5, math.NaN()
	ok := 0.2
	tests := []struct {
		name string
		o    FlagOverrides
		want error
	}{
		{"nil", nil, nil},
		{"slowdown", FlagOverrides{"canary": {Slowdown: &ok}}, nil},
		{"empty variant", FlagOverrides{"": {}}, ErrBadFlags},
		{"negative slowdown", FlagOverrides{"c": {Slowdown: &neg}}, ErrBadFlags},
		{"NaN slowdown", FlagOverrides{"c": {Slowdown: &nan}}, ErrBadFlags},
	}
	for _, tt := range tests {
		if err := tt.o.Validate(); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("%s: Validate = %v, want %v", tt.name, err, tt.want)
		}
	}
}

// TestWeightsReachWatcher checks the contract routers depend on: the
// current value at once, then every write within a second.
func TestWeightsReachWatcher(t *testing.T) {
	kv := openKV(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan Weights, 16)
	done := make(chan error, 1)
	go func() { done <- WatchWeights(ctx, kv, func(w Weights) { got <- w }) }()

	recv := func(what string) Weights {
		t.Helper()
		select {
		case w := <-got:
			return w
		case <-time.After(time.Second):
			t.Fatalf("%s: no weights within a second", what)
		}
		return Weights{}
	}
	if w := recv("initial"); w.Baseline != "" || len(w.Canary) != 0 {
		t.Fatalf("initial weights on an empty bucket = %+v, want zero", w)
	}
	for _, p := range []float64{10, 25, 50, 100} {
		want := Weights{Baseline: "baseline", Canary: map[string]float64{"canary": p}}
		start := time.Now()
		if err := PutWeights(ctx, kv, want); err != nil {
			t.Fatal(err)
		}
		w := recv("after put")
		if !w.Equal(want) || w.Revision == 0 {
			t.Fatalf("watched %+v, want %+v with a revision", w, want)
		}
		t.Logf("weights %v%% reached the watcher in %v", p, time.Since(start))
	}
	// A hand-edited value that does not validate is skipped.
	if _, err := kv.Put(ctx, KeyWeights, []byte(`{"baseline":"b","canary":{"c":500}}`)); err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(ctx, KeyWeights); err != nil {
		t.Fatal(err)
	}
	if w := recv("after delete"); w.Baseline != "" || len(w.Canary) != 0 {
		t.Fatalf("after delete %+v, want zero (the invalid value must be skipped)", w)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("WatchWeights returned %v after cancel, want nil", err)
	}
	if err := PutWeights(context.Background(), kv, Weights{Canary: map[string]float64{"c": 1}}); !errors.Is(err, ErrBadWeights) {
		t.Fatalf("PutWeights of invalid weights = %v, want ErrBadWeights", err)
	}
}

func TestWatchStartsWithCurrentValue(t *testing.T) {
	kv := openKV(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	want := Weights{Baseline: "baseline", Canary: map[string]float64{"canary": 25}}
	if err := PutWeights(ctx, kv, want); err != nil {
		t.Fatal(err)
	}
	got, err := GetWeights(ctx, kv)
	if err != nil || !got.Equal(want) || got.Revision == 0 {
		t.Fatalf("GetWeights = %+v, %v", got, err)
	}
	first := make(chan Weights, 1)
	go func() {
		_ = WatchWeights(ctx, kv, func(w Weights) {
			select {
			case first <- w:
			default:
			}
		})
	}()
	select {
	case w := <-first:
		if !w.Equal(want) {
			t.Fatalf("first watched value %+v, want %+v", w, want)
		}
	case <-time.After(time.Second):
		t.Fatal("no initial value")
	}
}

func TestFlagsWatchAndUpdate(t *testing.T) {
	kv := openKV(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan FlagOverrides, 16)
	go func() { _ = WatchFlags(ctx, kv, func(o FlagOverrides) { got <- o }) }()
	recv := func() FlagOverrides {
		t.Helper()
		select {
		case o := <-got:
			return o
		case <-time.After(time.Second):
			t.Fatal("no flags within a second")
		}
		return nil
	}
	if o := recv(); len(o) != 0 {
		t.Fatalf("initial flags %v, want none", o)
	}
	canary := FlagsFromRuntime(config.DefaultRuntime())
	if err := PutFlags(ctx, kv, FlagOverrides{"canary": canary}); err != nil {
		t.Fatal(err)
	}
	if o := recv(); o["canary"].KVCachePool == nil || !*o["canary"].KVCachePool.Enabled {
		t.Fatalf("watched %+v", o)
	}
	err := UpdateFlags(ctx, kv, func(o FlagOverrides) FlagOverrides {
		o["baseline"] = o["canary"].Disabled()
		delete(o, "canary")
		return o
	})
	if err != nil {
		t.Fatal(err)
	}
	o := recv()
	if _, ok := o["canary"]; ok {
		t.Fatalf("canary overrides still present: %+v", o)
	}
	b := o["baseline"]
	if b.KVCachePool == nil || *b.KVCachePool.Enabled || *b.KVCachePool.PrefixMatching || *b.ParallelTokenizer.Enabled {
		t.Fatalf("baseline overrides %+v, want features disabled", b)
	}
	// UpdateFlags refuses invalid results and writes nothing.
	bad := -1.0
	if err := UpdateFlags(ctx, kv, func(o FlagOverrides) FlagOverrides { o["x"] = VariantFlags{Slowdown: &bad}; return o }); !errors.Is(err, ErrBadFlags) {
		t.Fatalf("UpdateFlags invalid = %v, want ErrBadFlags", err)
	}
	cur, rev, err := GetFlags(ctx, kv)
	if err != nil || rev == 0 || len(cur) != 1 {
		t.Fatalf("GetFlags = %v, %d, %v", cur, rev, err)
	}
}

func TestApplyOverrides(t *testing.T) {
	off := VariantFlags{}.Merge(FlagsFromRuntime(config.DefaultRuntime())).Disabled()
	rt, err := off.Apply(config.DefaultRuntime())
	if err != nil {
		t.Fatal(err)
	}
	if rt.CPU.KVCachePool.Enabled || rt.CPU.KVCachePool.PrefixMatching || rt.CPU.ParallelTokenizer.Enabled {
		t.Fatalf("Disabled().Apply left features on: %+v", rt.CPU)
	}
	if !rt.CPU.KVCachePool.LRUEviction || rt.CPU.KVCachePool.BlockSize != 16 {
		t.Fatalf("Apply changed knobs it does not override: %+v", rt.CPU.KVCachePool)
	}
	f, tr := false, true
	bad := VariantFlags{KVCachePool: &KVPoolFlags{Enabled: &f, PrefixMatching: &tr}}
	if _, err := bad.Apply(config.DefaultRuntime()); !errors.Is(err, config.ErrInvalid) {
		t.Fatalf("Apply prefix matching on a disabled pool = %v, want config.ErrInvalid", err)
	}
	// Merge takes set fields from the argument and keeps the rest.
	m := VariantFlags{KVCachePool: &KVPoolFlags{LRUEviction: &f}}.Merge(VariantFlags{KVCachePool: &KVPoolFlags{Enabled: &tr}})
	if !*m.KVCachePool.Enabled || *m.KVCachePool.LRUEviction || m.KVCachePool.PrefixMatching != nil {
		t.Fatalf("Merge = %+v", *m.KVCachePool)
	}
}

// TestGoldenJSON pins the JSON operators read with `nats kv get`.
func TestGoldenJSON(t *testing.T) {
	slow := 0.2
	canary := FlagsFromRuntime(config.DefaultRuntime())
	canary.Slowdown = &slow
	values := map[string]any{
		"weights.json": Weights{Baseline: "baseline", Canary: map[string]float64{"canary": 25}, Revision: 7},
		"flags.json":   FlagOverrides{"canary": canary, "baseline": canary.Disabled()},
	}
	for name, v := range values {
		got, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, '\n')
		path := filepath.Join("testdata", name)
		if *update {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to create)", err)
		}
		if string(got) != string(want) {
			t.Errorf("%s: -got +want\n-%s\n+%s", name, got, want)
		}
	}
	var w Weights
	if err := json.Unmarshal([]byte(`{"baseline":"b","canary":{"c":10}}`), &w); err != nil || w.Canary["c"] != 10 {
		t.Fatalf("decode weights: %+v %v", w, err)
	}
}

func FuzzDecodeWeights(f *testing.F) {
	f.Add([]byte(`{"baseline":"baseline","canary":{"canary":25}}`))
	f.Add([]byte(`{"canary":{"":1e309}}`))
	if b, err := os.ReadFile("testdata/weights.json"); err == nil {
		f.Add(b)
	}
	if b, err := os.ReadFile("testdata/flags.json"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var w Weights
		if json.Unmarshal(b, &w) == nil && w.Validate() == nil {
			sum := 0.0
			for _, p := range w.Canary {
				sum += p
			}
			if sum > 100+1e-9 {
				t.Fatalf("valid weights sum to %v", sum)
			}
		}
		var o FlagOverrides
		if json.Unmarshal(b, &o) == nil && o.Validate() == nil {
			for _, v := range o {
				if _, err := v.Apply(config.DefaultRuntime()); err != nil && !errors.Is(err, config.ErrInvalid) {
					t.Fatalf("Apply: %v", err)
				}
			}
		}
	})
}
