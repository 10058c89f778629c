package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/krserve/krserve/bus"
	"github.com/krserve/krserve/config"
	"github.com/krserve/krserve/internal/health"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"
)

// upFlags are the settings of `krserve up`.
type upFlags struct {
	listen    string
	dataDir   string
	metrics   string
	runtime   string
	readyFile string
}

func init() {
	register(&command{
		name:    "up",
		summary: "start embedded NATS (JetStream) with every krserve role in one process",
		usage:   "[flags]",
		run:     runUp,
	})
}

func runUp(ctx context.Context, env *cmdEnv, fs *flag.FlagSet, args []string) error {
	e, err := config.LoadEnv(nil)
	if err != nil {
		return err
	}
	var f upFlags
	fs.StringVar(&f.listen, "listen", "127.0.0.1:4222", "NATS client address for other processes and the nats CLI (empty = in-process only; port 0 = any free port)")
	fs.StringVar(&f.dataDir, "data-dir", e.DataDir, "directory for the JetStream store and the model cache (default: the user cache dir)")
	fs.StringVar(&f.metrics, "metrics", e.MetricsAddr, "address of /metrics, /healthz and /readyz (empty = off)")
	fs.StringVar(&f.runtime, "runtime", e.RuntimeFile, "runtime YAML file with the feature flags (empty = built-in defaults)")
	fs.StringVar(&f.readyFile, "ready-file", "", "write a JSON file with the NATS URL and metrics address once everything is up")
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	rt := config.DefaultRuntime()
	if f.runtime != "" {
		if rt, err = config.LoadRuntime(f.runtime); err != nil {
			return err
		}
	}
	_ = rt
	if f.dataDir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return fmt.Errorf("no data dir: %w (set --data-dir)", err)
		}
		f.dataDir = filepath.Join(cache, "krserve")
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	busMetrics := bus.NewMetrics(reg)

	srv, err := bus.NewServer(bus.ServerConfig{StoreDir: filepath.Join(f.dataDir, "jetstream"), Listen: f.listen})
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	defer srv.Shutdown()
	nc, err := srv.Connect("krserve-up", bus.ConnDeps{Metrics: busMetrics})
	if err != nil {
		return err
	}
	defer nc.Close()

	svc, err := addStatusService(nc, "up")
	if err != nil {
		return err
	}
	defer func() { _ = svc.Stop() }()

	g, gctx := errgroup.WithContext(ctx)
	var hs *health.Server
	if f.metrics != "" {
		if hs, err = health.New(f.metrics, reg); err != nil {
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

	info := map[string]string{"data_dir": f.dataDir}
	if f.listen != "" {
		info["nats_url"] = srv.ClientURL()
	}
	if hs != nil {
		info["metrics_addr"] = hs.Addr()
	}
	if f.readyFile != "" {
		b, _ := json.Marshal(info)
		if err := writeFileAtomic(f.readyFile, b); err != nil {
			return err
		}
	}
	fmt.Fprintf(env.stderr, "krserve up: ready\n")
	if u := info["nats_url"]; u != "" {
		fmt.Fprintf(env.stderr, "  NATS:     %s   (try: nats --server %s micro ls)\n", u, u)
	}
	if a := info["metrics_addr"]; a != "" {
		fmt.Fprintf(env.stderr, "  metrics:  http://%s/metrics\n", a)
	}
	fmt.Fprintf(env.stderr, "  stop with Ctrl-C\n")
	g.Go(func() error { <-gctx.Done(); return nil })
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
