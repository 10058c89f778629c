package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/krserve/krserve/bus"
	"github.com/krserve/krserve/config"
	"github.com/krserve/krserve/controller/control"
	"github.com/krserve/krserve/internal/stack"
	"github.com/krserve/krserve/internal/testenv"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// startListeningStack runs NATS on a TCP port with a real pipeline on
// stories260K, for commands that connect by URL.
func startListeningStack(t *testing.T, engines []stack.EngineSpec, withController bool) (*bus.Server, *nats.Conn) {
	t.Helper()
	srv, err := bus.NewServer(bus.ServerConfig{StoreDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	st, err := stack.Start(stack.Config{Model: testenv.SharedFile(t, "models/stories260K.gguf"), ModelName: "stories260k",
		Engines: engines, Tokenizers: 1, Runtime: config.DefaultRuntime(), Controller: withController,
		Heartbeat: 100 * time.Millisecond, Metrics: 200 * time.Millisecond, Drain: 5 * time.Second,
		Connect: func(name string) (*nats.Conn, error) { return srv.Connect(name, bus.ConnDeps{}) }}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Stop(); err != nil {
			t.Error(err)
		}
	})
	want := map[string]int{}
	for _, e := range engines {
		want[e.Variant]++
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := st.WaitReady(ctx, want); err != nil {
		t.Fatal(err)
	}
	return srv, testenv.Conn(t, srv)
}

func TestStatus(t *testing.T) {
	srv, nc := startListeningStack(t, []stack.EngineSpec{{ID: "e1", Variant: "baseline"}, {ID: "c1", Variant: "canary"}}, true)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := control.Open(context.Background(), js)
	if err != nil {
		t.Fatal(err)
	}
	if err := control.PutWeights(context.Background(), kv, control.Weights{Baseline: "baseline", Canary: map[string]float64{"canary": 10}}); err != nil {
		t.Fatal(err)
	}
	url := srv.ClientURL()
	code, out, stderr := run(t, "", "status", "--nats", url, "--json", "--wait", "700ms")
	if code != 0 {
		t.Fatalf("status --json: exit %d: %s", code, stderr)
	}
	var r statusReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	workers := map[string]workerStatus{}
	for _, w := range r.Workers {
		workers[w.Role+"/"+w.Worker] = w
	}
	for _, id := range []string{"engine/e1", "engine/c1", "tokenizer/tok-1"} {
		w, ok := workers[id]
		if !ok || w.State != "ready" {
			t.Errorf("worker %s: %+v (have %v)", id, w, r.Workers)
		}
	}
	if e := workers["engine/e1"]; e.TotalBlocks == 0 || e.FreeBlocks > e.TotalBlocks || e.Variant != "baseline" || e.Model != "stories260k" || e.Version == "" {
		t.Errorf("engine e1: %+v", e)
	}
	variants := map[string]variantStatus{}
	for _, v := range r.Variants {
		variants[v.Name] = v
	}
	if b, c := variants["baseline"], variants["canary"]; b.WeightPct != 90 || c.WeightPct != 10 || b.Engines != 1 || c.Ready != 1 || b.TotalBlocks == 0 {
		t.Errorf("variants: %+v", r.Variants)
	}
	if r.Weights == nil || r.Weights.Canary["canary"] != 10 {
		t.Errorf("weights %+v (%s)", r.Weights, r.WeightsNote)
	}
	if r.Rollout == nil || r.Rollout.Rollout.ID != "" {
		t.Errorf("rollout: %+v (%s): the stack's controller must answer with no rollout", r.Rollout, r.RolloutNote)
	}
	hasController := false
	for _, s := range r.Services {
		hasController = hasController || s.Name == "krserve-controller"
	}
	if !hasController {
		t.Errorf("services %+v lack the controller", r.Services)
	}

	code, out, stderr = run(t, "", "status", "--nats", url, "--wait", "300ms")
	if code != 0 {
		t.Fatalf("status: exit %d: %s", code, stderr)
	}
	for _, want := range []string{"WORKERS", "engine", "e1", "c1", "tok-1", "VARIANTS", "90.0%", "10.0%", "ROLLOUT", "no rollout", "krserve-controller"} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}
}

func TestStatusOfEmptyDeployment(t *testing.T) {
	srv, err := bus.NewServer(bus.ServerConfig{StoreDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	code, out, stderr := run(t, "", "status", "--nats", srv.ClientURL(), "--wait", "200ms")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"no heartbeats", "control bucket krserve_control not found", "no controller is running"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if code, _, _ := run(t, "", "status", "--nats", srv.ClientURL(), "--wait", "0s"); code != 2 {
		t.Errorf("--wait 0: exit %d, want 2", code)
	}
}
