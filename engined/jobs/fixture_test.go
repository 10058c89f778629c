package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/krserve/krserve/bus"
	"github.com/krserve/krserve/config"
	"github.com/krserve/krserve/engined"
	"github.com/krserve/krserve/engined/llama"
	"github.com/krserve/krserve/internal/testenv"
	"github.com/krserve/krserve/schemas"
	"github.com/krserve/krserve/tokenizerd"
	"github.com/krserve/krserve/tokenizerd/tokenizer"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// testConfig is the queue configuration of the tests: short ack wait and
// few deliveries so redelivery and dead-lettering happen within seconds.
func testConfig() Config {
	return Config{AckWait: time.Second, MaxDeliver: 3, MaxAckPending: 256, DuplicateWindow: time.Minute}
}

type queue struct {
	srv *bus.Server
	nc  *nats.Conn
	js  jetstream.JetStream
	a   *Assets
}

func newQueue(t testing.TB, cfg Config) *queue {
	t.Helper()
	srv, nc := testenv.NATS(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	a, err := Setup(context.Background(), js, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &queue{srv: srv, nc: nc, js: js, a: a}
}

// engine is one real engine worker on stories260K with its job consumer,
// on its own NATS connection (closing it is the engine dying).
type engine struct {
	id      string
	nc      *nats.Conn
	eng     *engined.Engine
	w       *engined.Worker
	c       *Consumer
	reg     *prometheus.Registry
	cancelC context.CancelFunc
	cancelW context.CancelFunc
	doneC   chan error
	doneW   chan error
	stopped bool
}

type engineOpts struct {
	nc           *nats.Conn // default: a new connection to q.srv
	maxInFlight  int
	slowdown     float64
	workerDrain  time.Duration
	consumeDrain time.Duration
}

func startEngine(t testing.TB, q *queue, id string, o engineOpts) *engine {
	t.Helper()
	path := testenv.SharedFile(t, "models/stories260K.gguf")
	m, err := llama.Load(path, llama.WithBackend("native", 1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	tok, err := tokenizer.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ecfg := engined.DefaultEngineConfig("stories260k", config.DefaultRuntime().CPU.KVCachePool)
	ecfg.Slowdown = o.slowdown
	eng, err := engined.NewEngine(m, tok, ecfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	nc := o.nc
	if nc == nil {
		nc = testenv.Conn(t, q.srv)
	}
	if o.workerDrain == 0 {
		o.workerDrain = 10 * time.Second
	}
	w, err := engined.NewWorker(engined.Config{WorkerID: id, Variant: "baseline", ModelName: "stories260k",
		HeartbeatInterval: 50 * time.Millisecond, MetricsInterval: 50 * time.Millisecond, DrainTimeout: o.workerDrain},
		engined.Deps{NC: nc, Engine: eng})
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	c, err := NewConsumer(ConsumerConfig{WorkerID: id, MaxInFlight: o.maxInFlight, FetchWait: 200 * time.Millisecond,
		RetryDelay: 10 * time.Millisecond, MaxRetryDelay: 50 * time.Millisecond, DrainTimeout: o.consumeDrain},
		ConsumerDeps{JS: js, Engine: w, Registerer: reg, Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
			Encoder: &tokenizerd.Encoder{Tok: tok, ModelID: "stories260k", BlockSize: eng.BlockSize(), ContextLen: m.Config().Context}})
	if err != nil {
		t.Fatal(err)
	}
	e := &engine{id: id, nc: nc, eng: eng, w: w, c: c, reg: reg, doneC: make(chan error, 1), doneW: make(chan error, 1)}
	hb, err := q.nc.SubscribeSync(bus.Subjects{}.Heartbeat("engine", id))
	if err != nil {
		t.Fatal(err)
	}
	var wctx, cctx context.Context
	wctx, e.cancelW = context.WithCancel(context.Background())
	cctx, e.cancelC = context.WithCancel(context.Background())
	go func() { e.doneW <- w.Run(wctx) }()
	if _, err := hb.NextMsg(10 * time.Second); err != nil {
		t.Fatalf("engine %s: no heartbeat: %v", id, err)
	}
	_ = hb.Unsubscribe()
	go func() { e.doneC <- c.Run(cctx) }()
	t.Cleanup(func() { e.stop(t) })
	return e
}

// stop ends the consumer (it drains its jobs), then the worker.
func (e *engine) stop(t testing.TB) {
	t.Helper()
	if e.stopped {
		return
	}
	e.stopped = true
	e.cancelC()
	if err := <-e.doneC; err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		t.Errorf("consumer %s: %v", e.id, err)
	}
	e.cancelW()
	<-e.doneW
}

// kill is the engine dying mid-job: its connection goes away first, so
// nothing it does afterwards (ack, nak, InProgress, storing a result)
// reaches the server.
func (e *engine) kill(t testing.TB) {
	t.Helper()
	e.nc.Close()
	e.stop(t)
}

func (e *engine) metric(t testing.TB, name string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			}
		}
	}
	return sum
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(timeout)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
	}
}

// waitResults watches the results bucket until every id has a result and
// returns them by id.
func waitResults(t testing.TB, q *queue, timeout time.Duration, ids ...string) map[string]*schemas.JobResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	w, err := q.a.Results.WatchAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Stop() }()
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	got := map[string]*schemas.JobResult{}
	for len(got) < len(want) {
		select {
		case e := <-w.Updates():
			if e == nil || e.Operation() != jetstream.KeyValuePut {
				continue
			}
			var r schemas.JobResult
			if err := schemas.Decode(e.Value(), &r); err != nil {
				t.Fatalf("result %s: %v", e.Key(), err)
			}
			if want[r.JobID] {
				got[r.JobID] = &r
			}
		case <-ctx.Done():
			t.Fatalf("results for %d of %d jobs after %v", len(got), len(want), timeout)
		}
	}
	return got
}

// resultWrites is how many writes the results bucket ever took: its stream's
// last sequence (history 1 would hide an overwrite, the sequence does not).
func resultWrites(t testing.TB, q *queue) uint64 {
	t.Helper()
	s, err := q.js.Stream(context.Background(), "KV_"+bus.ResultsBucket)
	if err != nil {
		t.Fatal(err)
	}
	return s.CachedInfo().State.LastSeq
}

func streamMsgs(t testing.TB, q *queue, name string) uint64 {
	t.Helper()
	s, err := q.js.Stream(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return s.CachedInfo().State.Msgs
}

func job(id, prompt string, maxTokens int32) *schemas.Job {
	return &schemas.Job{V: schemas.Version, ID: id, Request: schemas.GenerateRequest{Prompt: prompt, MaxTokens: maxTokens}, Metadata: map[string]string{"n": id}}
}

func submit(t testing.TB, q *queue, j *schemas.Job) Submitted {
	t.Helper()
	s, err := Submit(context.Background(), q.js, DefaultQueue, j)
	if err != nil {
		t.Fatalf("submit %s: %v", j.ID, err)
	}
	return s
}

func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%03d", prefix, i)
	}
	return out
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }
