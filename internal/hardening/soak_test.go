package hardening_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/krserve/krserve/bus"
	"github.com/krserve/krserve/bus/client"
	"github.com/krserve/krserve/config"
	"github.com/krserve/krserve/internal/hardening"
	"github.com/krserve/krserve/internal/stack"
	"github.com/krserve/krserve/internal/testenv"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestSoakShort is the CI version of `make soak`: 20 s of mixed load
// (prompts, chats, jobs) must finish without an error, with every job done
// and resident memory within 5 % of its level after warm-up.
func TestSoakShort(t *testing.T) {
	if testing.Short() {
		t.Skip("20 s of load")
	}
	srv, nc := testenv.NATS(t)
	ctx := context.Background()
	if err := stack.SetupJobs(ctx, nc, bus.Subjects{}); err != nil {
		t.Fatal(err)
	}
	// A small KV pool fills during the warm-up, so what follows is the
	// steady state (an arena's pages turn resident as blocks are first used).
	rt := config.DefaultRuntime()
	rt.CPU.KVCachePool.MemoryLimitMB = 4
	st, err := stack.Start(stack.Config{
		Model: testenv.SharedFile(t, "models/stories260K.gguf"), ModelName: modelName,
		Engines: []stack.EngineSpec{{ID: "e1", Variant: "baseline"}, {ID: "e2", Variant: "baseline"}}, Tokenizers: 1,
		Runtime: rt, Jobs: true, Heartbeat: 100 * time.Millisecond, Metrics: 200 * time.Millisecond, Drain: 10 * time.Second,
		Connect: func(name string) (*nats.Conn, error) { return srv.Connect(name, bus.ConnDeps{}) },
	}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Stop(); err != nil {
			t.Error(err)
		}
	})
	rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := st.WaitReady(rctx, map[string]int{"baseline": 2}); err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	d := 20 * time.Second
	if v := os.Getenv("KRSERVE_SOAK_DURATION"); v != "" {
		if d, err = time.ParseDuration(v); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := hardening.Soak(ctx, hardening.SoakConfig{Duration: d, Interval: d / 20, JobEvery: 250 * time.Millisecond},
		hardening.SoakDeps{Client: client.New(nc, client.Options{IdleTimeout: 30 * time.Second}), Stack: st, JS: js})
	if rep != nil {
		var sb strings.Builder
		rep.WriteTable(&sb)
		t.Log("\n" + sb.String())
	}
	if err != nil {
		t.Fatal(err)
	}
	if rep.Jobs == 0 || rep.Requests < 20 || len(rep.Samples) < 10 {
		t.Errorf("too little load to judge: %d requests, %d jobs, %d samples", rep.Requests, rep.Jobs, len(rep.Samples))
	}
	// Every request and job is over: every KV reference must be released.
	waitFor(t, 10*time.Second, "the KV pools to release every block", func() bool {
		for _, e := range st.EngineCore {
			if ps := e.Pool.Stats(); ps.UsedBlocks != 0 || ps.Sequences != 0 {
				return false
			}
		}
		return true
	})
}

func TestSoakConfigValidate(t *testing.T) {
	for _, c := range []hardening.SoakConfig{
		{},
		{Duration: time.Second, Warmup: 2 * time.Second},
		{Duration: time.Minute, Interval: time.Millisecond},
		{Duration: time.Minute, Prompts: -1},
		{Duration: time.Minute, JobEvery: -time.Second},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: Validate accepted it", c)
		}
	}
	ok := hardening.SoakConfig{Duration: time.Minute}
	if err := ok.Validate(); err != nil || ok.Warmup != 15*time.Second || ok.MaxGrowth != 0.05 {
		t.Errorf("defaults: %+v %v", ok, err)
	}
}
