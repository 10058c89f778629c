package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/krserve/krserve/bus"
	"github.com/krserve/krserve/config"
	"github.com/krserve/krserve/internal/health"
	"github.com/krserve/krserve/internal/stack"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"
)

func init() {
	register(&command{name: "tokenizerd", summary: "run a tokenizer worker against a NATS deployment", usage: "--nats URL [flags]",
		run: func(ctx context.Context, env *cmdEnv, fs *flag.FlagSet, args []string) error {
			return runRole(ctx, env, fs, args, "tokenizer")
		}})
	register(&command{name: "engined", summary: "run an engine worker against a NATS deployment", usage: "--nats URL [flags]",
		run: func(ctx context.Context, env *cmdEnv, fs *flag.FlagSet, args []string) error {
			return runRole(ctx, env, fs, args, "engine")
		}})
}

// runRole runs one tokenizer or engine worker as its own process. SIGTERM
// drains: the worker announces it, stops taking work, finishes what it has
// and exits 0.
func runRole(ctx context.Context, env *cmdEnv, fs *flag.FlagSet, args []string, role string) error {
	e, err := config.LoadEnv(nil)
	if err != nil {
		return err
	}
	var rf roleFlags
	rf.register(fs, e)
	url := e.NATS.URL
	if url == "" {
		url = defaultNATS
	}
	natsURL := fs.String("nats", url, "NATS URL")
	noJobs := fs.Bool("no-jobs", false, "engine: do not pull batch jobs (the jobs stream must exist: krserve up or krserve jobs setup creates it)")
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	log := newLogger(env, e)
	rt, err := rf.loadRuntime()
	if err != nil {
		return err
	}
	model, err := rf.resolveModel(log)
	if err != nil {
		return err
	}
	id := rf.workerID
	if id == "" {
		host, _ := os.Hostname()
		id = fmt.Sprintf("%s-%s-%d", role, sanitize(host), os.Getpid())
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	busMetrics := bus.NewMetrics(reg)
	cc := e.NATS
	cc.URL = *natsURL
	cfg := stack.Config{Model: model, Tokenizer: rf.tokenizer, Backend: rf.backend, Threads: rf.threadsPer(1), Runtime: rt,
		Heartbeat: time.Second, Metrics: time.Second, Drain: e.DrainTimeout, Version: serviceVersion(), Control: true,
		Subjects: bus.Subjects{Prefix: e.SubjectPrefix},
		Connect: func(name string) (*nats.Conn, error) {
			return bus.Connect(cc, name+"-"+id, bus.ConnDeps{Metrics: busMetrics, Logger: log})
		}}
	if role == "engine" {
		cfg.Engines = []stack.EngineSpec{{ID: id, Variant: rf.variant}}
		cfg.Jobs = !*noJobs
	} else {
		cfg.Tokenizers = 1
		cfg.TokenizerIDs = []string{id}
	}
	st, err := stack.Start(cfg, reg, log)
	if err != nil {
		return err
	}
	log.Info("worker started", "role", role, "id", id, "nats", *natsURL, "model", model)
	g, gctx := errgroup.WithContext(ctx)
	if rf.metrics != "" {
		hs, err := health.New(rf.metrics, reg)
		if err != nil {
			_ = st.Stop()
			return err
		}
		hs.AddCheck(role, func() error {
			if st.Draining() {
				return fmt.Errorf("draining")
			}
			return nil
		})
		g.Go(func() error { return hs.Run(gctx) })
	}
	g.Go(func() error {
		<-gctx.Done()
		log.Info("draining", "role", role, "id", id)
		err := st.Stop()
		log.Info("stopped", "role", role, "id", id, "err", err)
		return err
	})
	return g.Wait()
}

func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '-'
		}
	}
	return string(b)
}
