package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/krserve/krserve/bus"
	"github.com/krserve/krserve/controller"
	"github.com/krserve/krserve/controller/control"
	"github.com/krserve/krserve/controller/rollout"
	"github.com/krserve/krserve/internal/testenv"
	"github.com/nats-io/nats.go/jetstream"
)

func TestRolloutCLI(t *testing.T) {
	srv, err := bus.NewServer(bus.ServerConfig{StoreDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc := testenv.Conn(t, srv)
	url := srv.ClientURL()
	// `krserve controller` in-process; SIGTERM is the context's cancel.
	ctx, cancel := context.WithCancel(context.Background())
	var errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- runMain(ctx, &cmdEnv{stdin: strings.NewReader(""), stdout: &errb, stderr: &errb},
			[]string{"controller", "--nats", url, "--metrics", "", "--id", "ctl-cli", "--lease-ttl", "3s"})
	}()
	defer func() {
		cancel()
		<-done
	}()
	cfgPath := filepath.Join(t.TempDir(), "canary.yaml")
	if err := os.WriteFile(cfgPath, []byte("cpu_optimizations:\n  kv_cache_pool:\n    prefix_matching: false\n  parallel_tokenizer:\n    batch_mode: false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The controller may not serve yet: retry status until it answers.
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, _, _ := run(t, "", "rollout", "status", "--nats", url, "--timeout", "200ms")
		if code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("controller never answered: %s", errb.String())
		}
	}
	code, out, stderr := run(t, "", "rollout", "start", "--canary", cfgPath, "--stages", "5,50,100", "--interval", "20s", "--gates", "--nats", url, "--json")
	if code != 0 {
		t.Fatalf("start: exit %d: %s", code, stderr)
	}
	var s controller.Status
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("start --json: %v\n%s", err, out)
	}
	if s.Rollout.Phase != rollout.Progressing || s.Rollout.Weight != 5 || !s.Rollout.Spec.Gates || s.Weights.Canary["canary"] != 5 {
		t.Fatalf("after start: %+v", s.Rollout)
	}
	js, _ := jetstream.New(nc)
	kv, err := control.Open(context.Background(), js)
	if err != nil {
		t.Fatal(err)
	}
	o, _, _ := control.GetFlags(context.Background(), kv)
	if f := o["canary"]; f.KVCachePool == nil || *f.KVCachePool.PrefixMatching || !*f.KVCachePool.Enabled || *f.ParallelTokenizer.BatchMode {
		t.Fatalf("canary flags from the YAML: %+v", o)
	}
	steps := []struct {
		args  []string
		code  int
		want  string // in stdout (or stderr on failure)
		phase rollout.Phase
	}{
		{[]string{"start", "--canary", cfgPath}, 1, "already active", rollout.Progressing},
		{[]string{"pause"}, 0, "paused", rollout.Paused},
		{[]string{"resume"}, 0, "progressing", rollout.Progressing},
		{[]string{"promote"}, 0, "stage 2 of 3", rollout.Progressing},
		{[]string{"status"}, 0, "canary weight 50 %", rollout.Progressing},
		{[]string{"abort"}, 0, "rolled_back", rollout.RolledBack},
		{[]string{"abort"}, 1, "no active rollout", rollout.RolledBack},
	}
	for _, st := range steps {
		code, out, stderr := run(t, "", append(append([]string{"rollout"}, st.args...), "--nats", url)...)
		if code != st.code || !strings.Contains(out+stderr, st.want) {
			t.Fatalf("rollout %v: exit %d, stdout %q, stderr %q; want exit %d with %q", st.args, code, out, stderr, st.code, st.want)
		}
	}
	if w, _ := control.GetWeights(context.Background(), kv); len(w.Variants()) != 0 {
		t.Fatalf("weights after abort %+v", w)
	}
	for _, bad := range [][]string{{"rollout"}, {"rollout", "frob"}, {"rollout", "start", "--nats", url}, {"rollout", "start", "--canary", cfgPath, "--stages", "a,b"}} {
		if code, _, _ := run(t, "", bad...); code != 2 {
			t.Errorf("krserve %v: exit %d, want 2", bad, code)
		}
	}
	// SIGTERM: exit 0 and the lease released.
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("controller exit %d: %s", code, errb.String())
	}
	done <- 0
	if l, err := rollout.ReadLease(context.Background(), kv); err != nil || l.Revision != 0 {
		t.Fatalf("lease after SIGTERM %+v %v", l, err)
	}
}
