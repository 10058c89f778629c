package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/krserve/krserve/bus"
	"github.com/krserve/krserve/config"
	"github.com/krserve/krserve/controller"
	"github.com/krserve/krserve/controller/judge"
	"github.com/krserve/krserve/internal/health"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"
)

func init() {
	register(&command{
		name:    "controller",
		summary: "run the rollout controller (canary analysis, regression detection) against a NATS deployment",
		usage:   "[--nats URL] [--metrics ADDR] [--judge kayenta] [--streak 2] [--lease-ttl 30s]",
		run:     runController,
	})
}

func runController(ctx context.Context, env *cmdEnv, fs *flag.FlagSet, args []string) error {
	e, err := config.LoadEnv(nil)
	if err != nil {
		return err
	}
	natsURL := e.NATS.URL
	if natsURL == "" {
		natsURL = defaultNATS
	}
	id := e.WorkerID
	if id == "" {
		id = "controller-" + uuid.NewString()[:8]
	}
	cfg := controller.DefaultConfig(id)
	fs.StringVar(&natsURL, "nats", natsURL, "NATS server URL")
	metricsAddr := fs.String("metrics", e.MetricsAddr, "address of /metrics, /healthz and /readyz (empty = off)")
	fs.StringVar(&cfg.WorkerID, "id", id, "controller id in the lease")
	fs.StringVar(&cfg.Judge, "judge", cfg.Judge, fmt.Sprintf("judge %v", judge.Names()))
	fs.IntVar(&cfg.Streak, "streak", cfg.Streak, "consecutive failing intervals that roll back")
	fs.IntVar(&cfg.InconclusiveAlert, "inconclusive-alert", cfg.InconclusiveAlert, "inconclusive intervals in a row that raise an alert")
	fs.DurationVar(&cfg.Interval, "interval", cfg.Interval, "default analysis interval of rollouts")
	fs.DurationVar(&cfg.LeaseTTL, "lease-ttl", cfg.LeaseTTL, "lease duration; renewed every third of it")
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	cfg.Subjects = bus.Subjects{Prefix: e.SubjectPrefix}
	cfg.TickEvery = min(time.Second, cfg.LeaseTTL/3)
	cfg.Regress.Every = cfg.Interval
	level, _ := e.SlogLevel()
	log := slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: level}))

	conn := e.NATS
	conn.URL = natsURL
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	nc, err := bus.Connect(conn, "krserve-controller-"+cfg.WorkerID, bus.ConnDeps{Logger: log, Metrics: bus.NewMetrics(reg)})
	if err != nil {
		return err
	}
	defer nc.Close()
	c, err := controller.New(cfg, controller.Deps{Conn: nc, Registerer: reg, Logger: log})
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	if *metricsAddr != "" {
		hs, err := health.New(*metricsAddr, reg)
		if err != nil {
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
	g.Go(func() error { return c.Run(gctx) })
	g.Go(func() error {
		select {
		case <-c.Ready():
			fmt.Fprintf(env.stderr, "krserve controller %s: running on %s\n", cfg.WorkerID, natsURL)
		case <-gctx.Done():
		}
		return nil
	})
	err = g.Wait()
	if ctx.Err() != nil && err == nil {
		// SIGTERM or Ctrl-C: the lease was released; a clean exit.
		fmt.Fprintf(env.stderr, "krserve controller %s: stopped, lease released\n", cfg.WorkerID)
		return nil
	}
	return err
}
