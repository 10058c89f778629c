package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/krserve/krserve/bus"
	"github.com/krserve/krserve/bus/client"
	"github.com/krserve/krserve/config"
	"github.com/krserve/krserve/internal/gateway"
	"github.com/krserve/krserve/internal/health"
	"github.com/krserve/krserve/schemas"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"
)

// defaultHTTP is the default address of the OpenAI-compatible API.
const defaultHTTP = "127.0.0.1:8080"

func init() {
	register(&command{
		name:    "gateway",
		summary: "serve the OpenAI-compatible HTTP API (/v1/chat/completions, /v1/completions, /v1/models) over a NATS deployment",
		usage:   "[--nats URL] [--http ADDR] [--model-name NAME] [--api-key KEY]... [--api-key-file FILE]",
		run:     runGateway,
	})
}

func runGateway(ctx context.Context, env *cmdEnv, fs *flag.FlagSet, args []string) error {
	e, err := config.LoadEnv(nil)
	if err != nil {
		return err
	}
	natsURL := fs.String("nats", envNATS(), "NATS server URL")
	addr := fs.String("http", defaultHTTP, "HTTP address of the API (port 0 = any free port)")
	model := fs.String("model-name", "", "served model name (default: the model the engine workers announce in their heartbeats)")
	var keys stringList
	fs.Var(&keys, "api-key", "accepted bearer token (repeatable; none = no authentication)")
	keyFile := fs.String("api-key-file", "", "file of accepted bearer tokens, one per line (keeps keys out of the process list)")
	inflight := fs.Int("max-inflight", gateway.DefaultMaxInflight, "concurrent generation requests; beyond it requests get 429")
	timeout := fs.Duration("request-timeout", 0, "deadline of every generation (0 = none); past it a request gets 504")
	discover := fs.Duration("discover", 10*time.Second, "how long to wait for an engine heartbeat naming the model (without --model-name)")
	metricsAddr := fs.String("metrics", e.MetricsAddr, "address of /metrics, /healthz and /readyz (empty = off)")
	readyFile := fs.String("ready-file", "", "write a JSON file with the HTTP address once serving")
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	if _, _, err := net.SplitHostPort(*addr); err != nil {
		return fmt.Errorf("%w: --http %q: %v", errUsage, *addr, err)
	}
	if *keyFile != "" {
		fileKeys, err := readKeyFile(*keyFile)
		if err != nil {
			return err
		}
		keys = append(keys, fileKeys...)
	}
	log := newLogger(env, e)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	busMetrics := bus.NewMetrics(reg)
	conn := e.NATS
	conn.URL = *natsURL
	nc, err := bus.Connect(conn, "krserve-gateway", bus.ConnDeps{Logger: log, Metrics: busMetrics})
	if err != nil {
		return err
	}
	defer nc.Close()
	subjects := bus.Subjects{Prefix: e.SubjectPrefix}
	if *model == "" {
		dctx, cancel := context.WithTimeout(ctx, *discover)
		*model, err = discoverModel(dctx, nc, subjects)
		cancel()
		if err != nil {
			return err
		}
	}
	cl := client.New(nc, client.Options{Subjects: subjects, Metrics: busMetrics})
	gw, err := gateway.New(gateway.Config{Addr: *addr, ModelName: *model, APIKeys: keys, MaxInflight: *inflight, RequestTimeout: *timeout},
		cl, gateway.Deps{Registerer: reg, Logger: log})
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	g, gctx := errgroup.WithContext(ctx)
	if *metricsAddr != "" {
		hs, err := health.New(*metricsAddr, reg)
		if err != nil {
			return err
		}
		hs.AddCheck("nats", func() error {
			if !nc.IsConnected() {
				return errors.New("not connected")
			}
			return nil
		})
		g.Go(func() error { return hs.Run(gctx) })
	}
	g.Go(func() error { return gw.Run(gctx) })
	g.Go(func() error {
		select {
		case <-gw.Ready():
		case <-gctx.Done():
			return nil
		}
		if *readyFile != "" {
			b, _ := json.Marshal(map[string]string{"http_addr": gw.Addr(), "model": *model, "nats_url": *natsURL})
			if err := writeFileAtomic(*readyFile, b); err != nil {
				return err
			}
		}
		auth := "no API key required"
		if len(keys) > 0 {
			auth = fmt.Sprintf("%d API key(s) accepted", len(keys))
		}
		fmt.Fprintf(env.stderr, "krserve gateway: serving %s at http://%s/v1 (%s) over %s\n", *model, gw.Addr(), auth, *natsURL)
		return nil
	})
	return g.Wait()
}

func readKeyFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("api key file: %w", err)
	}
	defer f.Close()
	var keys []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k := strings.TrimSpace(sc.Text()); k != "" && !strings.HasPrefix(k, "#") {
			keys = append(keys, k)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("api key file %s: %w", path, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("api key file %s holds no key", path)
	}
	return keys, nil
}

// discoverModel waits for an engine heartbeat that names its model.
func discoverModel(ctx context.Context, nc *nats.Conn, s bus.Subjects) (string, error) {
	found := make(chan string, 1)
	sub, err := nc.Subscribe(s.Heartbeat("engine", "*"), func(m *nats.Msg) {
		var h schemas.Heartbeat
		if schemas.Decode(m.Data, &h) == nil && h.Model != "" {
			select {
			case found <- h.Model:
			default:
			}
		}
	})
	if err != nil {
		return "", fmt.Errorf("gateway: subscribe to heartbeats: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	select {
	case m := <-found:
		return m, nil
	case <-ctx.Done():
		return "", fmt.Errorf("no engine heartbeat named a model in time (is an engine running?); pass --model-name: %w", ctx.Err())
	}
}
