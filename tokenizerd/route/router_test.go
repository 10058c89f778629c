package route

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/krserve/krserve/schemas"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time { return c.t }

func newRouter(t *testing.T) (*Router, *fakeClock) {
	t.Helper()
	clk := &fakeClock{t: time.Unix(1000, 0)}
	cfg := DefaultConfig()
	cfg.MinBoundLoad = 2
	r, err := New(cfg, Deps{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	return r, clk
}

func hb(worker, variant string, load int32, state schemas.WorkerState) *schemas.Heartbeat {
	return &schemas.Heartbeat{V: 1, Role: "engine", Worker: worker, Variant: variant, State: state, IntervalMs: 1000,
		Running: load, Subject: "krserve.v1.engine." + variant + "." + worker}
}

func stored(worker string, seq uint64, hashes ...uint64) *schemas.KVEvents {
	e := &schemas.KVEvents{V: 1, Worker: worker, Seq: seq, BlockSize: 16}
	for _, h := range hashes {
		e.Events = append(e.Events, schemas.KVEvent{Kind: schemas.KVStored, Hash: h})
	}
	return e
}

func TestPickPrefersCachedPrefix(t *testing.T) {
	r, _ := newRouter(t)
	for _, w := range []string{"a", "b", "c"} {
		r.ObserveHeartbeat(hb(w, "base", 0, schemas.StateReady))
		r.ObserveKV(stored(w, 1))
	}
	r.ObserveKV(stored("b", 2, 10, 11, 12))
	r.ObserveKV(stored("c", 2, 10)) // shorter prefix
	got, err := r.Pick("base", "conv-1", []uint64{10, 11, 12, 13})
	if err != nil {
		t.Fatal(err)
	}
	if got.Worker != "b" || got.CachedBlocks != 3 {
		t.Errorf("pick = %+v, want b with 3 cached blocks", got)
	}
	// A prefix match must be a prefix: holding blocks 11 and 12 without 10 counts for nothing.
	r.ObserveKV(stored("a", 2, 11, 12, 13))
	for _, w := range []string{"a", "b", "c"} {
		r.ObserveHeartbeat(hb(w, "base", 0, schemas.StateReady))
	}
	if got, _ := r.Pick("base", "conv-1", []uint64{10, 11, 12, 13}); got.Worker != "b" {
		t.Errorf("non-prefix blocks won: %+v", got)
	}
}

func TestPickLoadOutweighsSmallHit(t *testing.T) {
	r, _ := newRouter(t)
	r.ObserveHeartbeat(hb("a", "base", 10, schemas.StateReady))
	r.ObserveHeartbeat(hb("b", "base", 0, schemas.StateReady))
	r.ObserveKV(stored("a", 1, 10))
	r.ObserveKV(stored("b", 1))
	got, _ := r.Pick("base", "k", []uint64{10, 11})
	if got.Worker != "b" {
		t.Errorf("busy worker chose for a one-block hit: %+v", got)
	}
}

func TestAffinityWithoutKVEvents(t *testing.T) {
	r, _ := newRouter(t)
	for i := 0; i < 5; i++ {
		r.ObserveHeartbeat(hb(fmt.Sprintf("w%d", i), "base", 0, schemas.StateReady))
	}
	// Same conversation → same worker on every turn (loads refreshed by heartbeats).
	spread := map[string]bool{}
	for c := 0; c < 40; c++ {
		key := fmt.Sprintf("conv-%d", c)
		first, err := r.Pick("base", key, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 5; i++ {
			r.ObserveHeartbeat(hb(fmt.Sprintf("w%d", i), "base", 0, schemas.StateReady))
		}
		again, _ := r.Pick("base", key, nil)
		if again.Worker != first.Worker {
			t.Fatalf("%s moved from %s to %s", key, first.Worker, again.Worker)
		}
		for i := 0; i < 5; i++ {
			r.ObserveHeartbeat(hb(fmt.Sprintf("w%d", i), "base", 0, schemas.StateReady))
		}
		spread[first.Worker] = true
	}
	if len(spread) < 4 {
		t.Errorf("40 conversations used only %d of 5 workers", len(spread))
	}
}

func TestBoundedLoad(t *testing.T) {
	r, _ := newRouter(t)
	r.ObserveHeartbeat(hb("a", "base", 0, schemas.StateReady))
	r.ObserveHeartbeat(hb("b", "base", 0, schemas.StateReady))
	r.ObserveHeartbeat(hb("c", "base", 0, schemas.StateReady))
	r.ObserveKV(stored("b", 1))
	r.ObserveKV(stored("c", 1))
	r.ObserveKV(stored("a", 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20))
	hashes := []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}
	counts := map[string]int{}
	// One hot conversation with a long cached prefix: without a bound every
	// request would go to a; the bound sends overflow to b.
	for i := 0; i < 20; i++ {
		c, _ := r.Pick("base", "hot", hashes)
		counts[c.Worker]++
	}
	if counts["b"]+counts["c"] == 0 || counts["a"] > 16 {
		t.Errorf("hot conversation not spread under the load bound: %v", counts)
	}
}

func TestAffinityCreditWithoutIndex(t *testing.T) {
	r, _ := newRouter(t)
	for _, w := range []string{"a", "b", "c"} {
		r.ObserveHeartbeat(hb(w, "base", 0, schemas.StateReady))
	}
	first, _ := r.Pick("base", "conv", []uint64{1, 2, 3})
	// Its load is now higher than the others', but with no KV index the
	// favourite is assumed to hold the conversation's blocks.
	again, _ := r.Pick("base", "conv", []uint64{1, 2, 3, 4})
	if again.Worker != first.Worker || again.CachedBlocks != 4 {
		t.Errorf("first %+v, again %+v", first, again)
	}
}

func TestLiveness(t *testing.T) {
	r, clk := newRouter(t)
	r.ObserveHeartbeat(hb("a", "base", 0, schemas.StateReady))
	r.ObserveHeartbeat(hb("b", "base", 0, schemas.StateReady))
	r.ObserveHeartbeat(hb("c", "canary", 0, schemas.StateReady))
	if got := r.Workers("base"); len(got) != 2 {
		t.Fatalf("workers = %v", got)
	}
	r.ObserveHeartbeat(hb("a", "base", 0, schemas.StateDraining))
	if got := r.Workers("base"); len(got) != 1 || got[0] != "b" {
		t.Errorf("draining worker still a candidate: %v", got)
	}
	// b stops heart-beating: gone after 1.5 intervals.
	clk.t = clk.t.Add(1400 * time.Millisecond)
	if got := r.Workers("base"); len(got) != 1 {
		t.Errorf("b dropped too early: %v", got)
	}
	clk.t = clk.t.Add(200 * time.Millisecond)
	if _, err := r.Pick("base", "k", nil); !errors.Is(err, ErrNoWorker) {
		t.Errorf("dead worker picked: %v", err)
	}
	r.ObserveHeartbeat(hb("c", "canary", 0, schemas.StateStopped))
	if got := r.Workers("canary"); len(got) != 0 {
		t.Errorf("stopped worker listed: %v", got)
	}
}

func TestKVSequenceGapResetsIndex(t *testing.T) {
	r, _ := newRouter(t)
	r.ObserveHeartbeat(hb("a", "base", 0, schemas.StateReady))
	r.ObserveHeartbeat(hb("b", "base", 0, schemas.StateReady))
	r.ObserveKV(stored("b", 1)) // b publishes events (none stored yet)
	r.ObserveKV(stored("a", 1, 10, 11))
	r.ObserveKV(stored("a", 3, 99)) // batch 2 lost
	c, _ := r.Pick("base", "k", []uint64{10, 11})
	if c.CachedBlocks != 0 {
		t.Errorf("stale index trusted after a gap: %+v", c)
	}
	r.ObserveKV(&schemas.KVEvents{V: 1, Worker: "a", Seq: 4, BlockSize: 16, Events: []schemas.KVEvent{{Kind: schemas.KVStored, Hash: 10}, {Kind: schemas.KVRemoved, Hash: 99}}})
	r.ObserveHeartbeat(hb("a", "base", 0, schemas.StateReady))
	r.ObserveHeartbeat(hb("b", "base", 0, schemas.StateReady))
	if c, _ := r.Pick("base", "k", []uint64{10, 11}); c.Worker != "a" || c.CachedBlocks != 1 {
		t.Errorf("after rebuild: %+v", c)
	}
}

func TestSelectVariant(t *testing.T) {
	const n = 20000
	count := func(w Weights) map[string]int {
		out := map[string]int{}
		for i := 0; i < n; i++ {
			out[SelectVariant(fmt.Sprintf("conv-%d", i), "baseline", w)]++
		}
		return out
	}
	if c := count(nil); c["baseline"] != n {
		t.Errorf("no weights: %v", c)
	}
	c := count(Weights{"canary": 10})
	if frac := float64(c["canary"]) / n; frac < 0.08 || frac > 0.12 {
		t.Errorf("10 %% canary got %.3f", frac)
	}
	// Monotone: every key in the canary at 10 % stays there at 25 %.
	for i := 0; i < n; i++ {
		k := fmt.Sprintf("conv-%d", i)
		if SelectVariant(k, "baseline", Weights{"canary": 10}) == "canary" && SelectVariant(k, "baseline", Weights{"canary": 25}) != "canary" {
			t.Fatalf("%s left the canary when its weight rose", k)
		}
	}
	if c := count(Weights{"canary": 100}); c["canary"] != n {
		t.Errorf("100 %%: %v", c)
	}
	if err := (Weights{"a": 60, "b": 50}).Validate("baseline"); err == nil {
		t.Error("weights over 100 accepted")
	}
	if err := (Weights{"a": -1}).Validate("baseline"); err == nil {
		t.Error("negative weight accepted")
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{{PrefillWeight: -1, StaleAfter: 2}, {LoadWeight: -1, StaleAfter: 2}, {StaleAfter: 0.5}} {
		if _, err := New(c, Deps{}); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}
