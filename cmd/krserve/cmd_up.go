package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/krserve/krserve/bus"
	"github.com/krserve/krserve/bus/client"
	"github.com/krserve/krserve/config"
	"github.com/krserve/krserve/internal/gateway"
	"github.com/krserve/krserve/internal/health"
	"github.com/krserve/krserve/internal/stack"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"
)

func init() {
	register(&command{
		name:    "up",
		summary: "start embedded NATS (JetStream) with tokenizer and engine workers and the default model in one process",
		usage:   "[flags]",
		run:     runUp,
	})
}

func runUp(ctx context.Context, env *cmdEnv, fs *flag.FlagSet, args []string) error {
	e, err := config.LoadEnv(nil)
	if err != nil {
		return err
	}
	var rf roleFlags
	rf.register(fs, e)
	listen := fs.String("listen", "127.0.0.1:4222", "NATS client address for other processes and the nats CLI (empty = in-process only; port 0 = any free port)")
	readyFile := fs.String("ready-file", "", "write a JSON file with the NATS URL and metrics address once everything is up")
	engines := fs.Int("engines", 2, "engine workers of the baseline variant")
	canary := fs.Int("canary-engines", 0, "engine workers of the canary variant")
	tokenizers := fs.Int("tokenizers", 1, "tokenizer workers")
	noController := fs.Bool("no-controller", false, "do not run the rollout controller in this process")
	httpAddr := fs.String("http", "127.0.0.1:8080", "address of the OpenAI-compatible HTTP gateway (empty = off)")
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	if *engines < 1 || *tokenizers < 1 || *canary < 0 {
		return fmt.Errorf("%w: need at least one engine and one tokenizer", errUsage)
	}
	log := newLogger(env, e)
	rt, err := rf.loadRuntime()
	if err != nil {
		return err
	}
	dataDir, err := rf.resolveDataDir()
	if err != nil {
		return err
	}
	model, err := rf.resolveModel(log)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	busMetrics := bus.NewMetrics(reg)

	srv, err := bus.NewServer(bus.ServerConfig{StoreDir: filepath.Join(dataDir, "jetstream"), Listen: *listen})
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	defer srv.Shutdown()
	nc, err := srv.Connect("krserve-up", bus.ConnDeps{Metrics: busMetrics, Logger: log})
	if err != nil {
		return err
	}
	defer nc.Close()
	svc, err := addStatusService(nc, "up")
	if err != nil {
		return err
	}
	defer func() { _ = svc.Stop() }()

	sctx, cancelSetup := context.WithTimeout(ctx, 30*time.Second)
	err = stack.SetupJobs(sctx, nc, bus.Subjects{Prefix: e.SubjectPrefix})
	cancelSetup()
	if err != nil {
		return err
	}
	var specs []stack.EngineSpec
	for i := 0; i < *engines; i++ {
		specs = append(specs, stack.EngineSpec{ID: fmt.Sprintf("engine-%d", i+1), Variant: "baseline"})
	}
	for i := 0; i < *canary; i++ {
		specs = append(specs, stack.EngineSpec{ID: fmt.Sprintf("canary-%d", i+1), Variant: "canary"})
	}
	st, err := stack.Start(stack.Config{Model: model, Tokenizer: rf.tokenizer, Backend: rf.backend, Threads: rf.threadsPer(len(specs)),
		Engines: specs, Tokenizers: *tokenizers, Runtime: rt, Heartbeat: time.Second, Metrics: time.Second, Drain: e.DrainTimeout,
		Control: true, Controller: !*noController, Jobs: true,
		Version: serviceVersion(), Subjects: bus.Subjects{Prefix: e.SubjectPrefix},
		Connect: func(name string) (*nats.Conn, error) {
			return srv.Connect(name, bus.ConnDeps{Metrics: busMetrics, Logger: log})
		},
	}, reg, log)
	if err != nil {
		return err
	}
	want := map[string]int{"baseline": *engines}
	if *canary > 0 {
		want["canary"] = *canary
	}
	readyCtx, cancelReady := context.WithTimeout(ctx, 30*time.Second)
	err = st.WaitReady(readyCtx, want)
	cancelReady()
	if err != nil {
		_ = st.Stop()
		return err
	}

	g, gctx := errgroup.WithContext(ctx)
	var hs *health.Server
	if rf.metrics != "" {
		if hs, err = health.New(rf.metrics, reg); err != nil {
			_ = st.Stop()
			return err
		}
		hs.AddCheck("nats", func() error {
			if !nc.IsConnected() {
				return fmt.Errorf("not connected")
			}
			return nil
		})
		g.Go(func() error { return hs.Run(gctx) })
	}
	var gw *gateway.Gateway
	if *httpAddr != "" {
		gw, err = gateway.New(gateway.Config{Addr: *httpAddr, ModelName: st.ModelName},
			client.New(nc, client.Options{Subjects: bus.Subjects{Prefix: e.SubjectPrefix}, Metrics: busMetrics}),
			gateway.Deps{Registerer: reg, Logger: log})
		if err != nil {
			_ = st.Stop()
			return err
		}
		g.Go(func() error { return gw.Run(gctx) })
		select {
		case <-gw.Ready():
		case <-gctx.Done():
		}
	}
	info := map[string]string{"data_dir": dataDir, "model": model}
	if gw != nil {
		info["http_addr"] = gw.Addr()
	}
	if *listen != "" {
		info["nats_url"] = srv.ClientURL()
	}
	if hs != nil {
		info["metrics_addr"] = hs.Addr()
	}
	if *readyFile != "" {
		b, _ := json.Marshal(info)
		if err := writeFileAtomic(*readyFile, b); err != nil {
			_ = st.Stop()
			return err
		}
	}
	fmt.Fprintf(env.stderr, "krserve up: ready — %d tokenizer and %d engine workers serving %s\n", *tokenizers, len(specs), st.ModelName)
	if u := info["nats_url"]; u != "" {
		fmt.Fprintf(env.stderr, "  NATS:     %s\n", u)
		fmt.Fprintf(env.stderr, "  try:      krserve generate --nats %s --prompt \"Once upon a time\"\n", u)
		fmt.Fprintf(env.stderr, "            nats --server %s micro ls\n", u)
	}
	if a := info["http_addr"]; a != "" {
		fmt.Fprintf(env.stderr, "  OpenAI:   http://%s/v1   (curl http://%s/v1/models)\n", a, a)
	}
	if a := info["metrics_addr"]; a != "" {
		fmt.Fprintf(env.stderr, "  metrics:  http://%s/metrics\n", a)
	}
	fmt.Fprintf(env.stderr, "  stop with Ctrl-C (in-flight requests finish first)\n")
	g.Go(func() error {
		<-gctx.Done()
		return st.Stop()
	})
	return g.Wait()
}

// addStatusService registers the process itself as a micro service with a
// status endpoint, so `nats micro ls` shows every krserve process.
func addStatusService(nc *nats.Conn, role string) (micro.Service, error) {
	svc, err := bus.AddService(nc, bus.ServiceConfig{Name: "krserve", Version: serviceVersion(), Description: "krserve process (" + role + ")",
		Metadata: map[string]string{"role": role}})
	if err != nil {
		return nil, err
	}
	err = svc.AddEndpoint("status", micro.HandlerFunc(func(r micro.Request) {
		b, _ := json.Marshal(map[string]string{"role": role, "version": version})
		_ = r.Respond(b)
	}), micro.WithEndpointSubject(bus.Subjects{}.Status(role)))
	if err != nil {
		_ = svc.Stop()
		return nil, err
	}
	return svc, nil
}

// serviceVersion is version as micro services require it (semver).
func serviceVersion() string {
	if version == "dev" {
		return "0.1.0-dev"
	}
	return version
}

func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
