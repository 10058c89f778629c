package hardening_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/krserve/krserve/bus"
	"github.com/krserve/krserve/bus/client"
	"github.com/krserve/krserve/config"
	"github.com/krserve/krserve/internal/stack"
	"github.com/krserve/krserve/internal/testenv"
	"github.com/krserve/krserve/schemas"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
)

const modelName = "stories260k"

// pipeline is an in-process stack on its own NATS server, with the registry
// its workers export metrics to and a producer connection for the test.
type pipeline struct {
	srv *bus.Server
	nc  *nats.Conn
	st  *stack.Stack
	reg *prometheus.Registry
	cl  *client.Client
}

type pipelineOpts struct {
	engines    int
	tokenizers int
	controller bool
	idle       time.Duration
}

func startPipeline(tb testing.TB, o pipelineOpts) *pipeline {
	tb.Helper()
	if o.engines == 0 {
		o.engines = 1
	}
	if o.tokenizers == 0 {
		o.tokenizers = 1
	}
	if o.idle == 0 {
		o.idle = 30 * time.Second
	}
	srv, nc := testenv.NATS(tb)
	reg := prometheus.NewRegistry()
	specs := make([]stack.EngineSpec, o.engines)
	for i := range specs {
		specs[i] = stack.EngineSpec{ID: fmt.Sprintf("e%d", i+1), Variant: "baseline"}
	}
	st, err := stack.Start(stack.Config{
		Model: testenv.SharedFile(tb, "models/stories260K.gguf"), ModelName: modelName,
		Engines: specs, Tokenizers: o.tokenizers, Runtime: config.DefaultRuntime(), Controller: o.controller,
		Heartbeat: 100 * time.Millisecond, Metrics: 200 * time.Millisecond, Drain: 10 * time.Second,
		Connect: func(name string) (*nats.Conn, error) { return srv.Connect(name, bus.ConnDeps{}) },
	}, reg, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := st.Stop(); err != nil {
			tb.Error(err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := st.WaitReady(ctx, map[string]int{"baseline": o.engines}); err != nil {
		tb.Fatal(err)
	}
	return &pipeline{srv: srv, nc: nc, st: st, reg: reg, cl: client.New(nc, client.Options{IdleTimeout: o.idle})}
}

// counter sums every sample of a counter family whose labels include want.
func counter(tb testing.TB, g prometheus.Gatherer, name string, want map[string]string) float64 {
	tb.Helper()
	mfs, err := g.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for k, v := range want {
				if have[k] != v {
					continue metrics
				}
			}
			if c := m.GetCounter(); c != nil {
				sum += c.GetValue()
			}
		}
	}
	return sum
}

// mustComplete checks that the pipeline still serves a valid request.
func (p *pipeline) mustComplete(tb testing.TB, what string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, err := p.cl.Complete(ctx, &schemas.GenerateRequest{Prompt: "Once upon a time", MaxTokens: 4})
	if err != nil {
		tb.Fatalf("after %s the pipeline fails a valid request: %v", what, err)
	}
	if got.Final.Usage.GeneratedTokens == 0 {
		tb.Fatalf("after %s: nothing generated", what)
	}
}

// waitFor polls cond every few milliseconds until it holds or d passes.
func waitFor(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", d, what)
		}
		<-t.C
	}
}
