package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/krserve/krserve/bus"
	"github.com/krserve/krserve/bus/client"
	"github.com/krserve/krserve/config"
	"github.com/krserve/krserve/internal/hardening"
	"github.com/krserve/krserve/internal/stack"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func init() {
	registerBench(&command{
		name:    "soak",
		summary: "steady mixed load (prompts, multi-turn chats, batch jobs) on an in-process pipeline; samples RSS, goroutines, KV blocks and latency; fails on any error or > 5 % memory growth after warm-up",
		usage:   "--model PATH [--duration 10m] [--interval D] [--warmup D] [--prompts 2] [--chats 2] [--job-every 250ms] [--kv-mb N] [--json]",
		run:     runBenchSoak,
	})
}

func runBenchSoak(ctx context.Context, env *cmdEnv, fs *flag.FlagSet, args []string) error {
	var ef engineFlags
	ef.register(fs)
	var sc hardening.SoakConfig
	fs.DurationVar(&sc.Duration, "duration", 10*time.Minute, "how long to drive load")
	fs.DurationVar(&sc.Warmup, "warmup", 0, "excluded from the memory comparison (default: a quarter of the duration)")
	fs.DurationVar(&sc.Interval, "interval", 0, "time between samples (default: a twelfth of the duration)")
	fs.IntVar(&sc.Prompts, "prompts", 2, "closed loops of single prompts")
	fs.IntVar(&sc.Chats, "chats", 2, "closed loops of multi-turn chats")
	fs.IntVar(&sc.ChatTurns, "turns", 4, "turns per chat")
	fs.DurationVar(&sc.JobEvery, "job-every", 250*time.Millisecond, "submit one batch job per period (0 = no jobs)")
	maxTokens := fs.Int("tokens", 24, "tokens generated per request")
	engines := fs.Int("engines", 2, "engine workers")
	kvMB := fs.Int("kv-mb", 0, "KV pool memory per engine in MiB (0 = the runtime default); the pool must fill during the warm-up")
	runtimeFile := fs.String("runtime", "", "runtime YAML with the feature flags (default: built-in defaults)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	if ef.model == "" {
		return fmt.Errorf("%w: --model is required", errUsage)
	}
	if *engines < 1 || *maxTokens < 1 || *kvMB < 0 {
		return fmt.Errorf("%w: --engines and --tokens must be ≥ 1, --kv-mb ≥ 0", errUsage)
	}
	sc.MaxTokens = int32(*maxTokens)
	if err := sc.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	rt := config.DefaultRuntime()
	if *runtimeFile != "" {
		var err error
		if rt, err = config.LoadRuntime(*runtimeFile); err != nil {
			return err
		}
	}
	if *kvMB > 0 {
		rt.CPU.KVCachePool.MemoryLimitMB = *kvMB
	}
	dir, err := os.MkdirTemp("", "krserve-soak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	srv, err := bus.NewServer(bus.ServerConfig{StoreDir: dir})
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	defer srv.Shutdown()
	nc, err := srv.Connect("soak-producer", bus.ConnDeps{})
	if err != nil {
		return err
	}
	defer nc.Close()
	if sc.JobEvery > 0 {
		if err := stack.SetupJobs(ctx, nc, bus.Subjects{}); err != nil {
			return err
		}
	}
	var specs []stack.EngineSpec
	for i := 0; i < *engines; i++ {
		specs = append(specs, stack.EngineSpec{ID: fmt.Sprintf("engine-%d", i+1), Variant: "baseline"})
	}
	st, err := stack.Start(stack.Config{Model: ef.model, Tokenizer: ef.tokenizer, Backend: ef.backend, Threads: ef.threads,
		Engines: specs, Tokenizers: 1, Runtime: rt, Jobs: sc.JobEvery > 0,
		Heartbeat: 500 * time.Millisecond, Metrics: time.Second, Drain: 10 * time.Second,
		Connect: func(name string) (*nats.Conn, error) { return srv.Connect(name, bus.ConnDeps{}) },
	}, nil, nil)
	if err != nil {
		return err
	}
	defer func() { _ = st.Stop() }()
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = st.WaitReady(rctx, map[string]int{"baseline": *engines})
	cancel()
	if err != nil {
		return err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stderr, "soak: %v of %d prompt and %d chat loops, a job every %v, %d engines\n", sc.Duration, sc.Prompts, sc.Chats, sc.JobEvery, *engines)
	rep, err := hardening.Soak(ctx, sc, hardening.SoakDeps{Client: client.New(nc, client.Options{IdleTimeout: time.Minute}), Stack: st, JS: js})
	if rep != nil {
		if *asJSON {
			if jerr := json.NewEncoder(env.stdout).Encode(rep); jerr != nil {
				return jerr
			}
		} else {
			rep.WriteTable(env.stdout)
		}
	}
	return err // hardening.ErrSoakFailed when the run did not pass
}
