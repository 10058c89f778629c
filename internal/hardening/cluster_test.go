package hardening_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/krserve/krserve/bus"
	"github.com/krserve/krserve/bus/client"
	"github.com/krserve/krserve/config"
	"github.com/krserve/krserve/engined/jobs"
	"github.com/krserve/krserve/internal/stack"
	"github.com/krserve/krserve/internal/testenv"
	"github.com/krserve/krserve/schemas"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// cluster is three nats-servers routed on loopback with JetStream.
type cluster struct {
	nodes []*server.Server
}

func startCluster(tb testing.TB) *cluster {
	tb.Helper()
	c := &cluster{}
	// Every node routes to all three cluster ports, so they are picked
	// first (a listener on port 0, closed again).
	var routes []*url.URL
	for i := 0; i < 3; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		routes = append(routes, &url.URL{Scheme: "nats", Host: l.Addr().String()})
		_ = l.Close()
	}
	for i := 0; i < 3; i++ {
		p, err := strconv.Atoi(routes[i].Port())
		if err != nil {
			tb.Fatal(err)
		}
		o := &server.Options{ServerName: fmt.Sprintf("n%d", i+1), Host: "127.0.0.1", Port: server.RANDOM_PORT,
			JetStream: true, StoreDir: tb.TempDir(), NoLog: true, NoSigs: true,
			Cluster: server.ClusterOpts{Name: "krserve", Host: "127.0.0.1", Port: p}, Routes: routes}
		ns, err := server.NewServer(o)
		if err != nil {
			tb.Fatal(err)
		}
		go ns.Start()
		tb.Cleanup(ns.Shutdown)
		c.nodes = append(c.nodes, ns)
	}
	for i, ns := range c.nodes {
		if !ns.ReadyForConnections(20 * time.Second) {
			tb.Fatalf("node %d not ready", i+1)
		}
	}
	waitFor(tb, 30*time.Second, "the cluster to form with a JetStream meta leader", func() bool {
		leader := 0
		for _, ns := range c.nodes {
			if ns.NumRoutes() < 2 || !ns.JetStreamIsCurrent() {
				return false
			}
			if ns.JetStreamIsLeader() {
				leader++
			}
		}
		return leader == 1
	})
	return c
}

// connect opens a connection to node i that fails over to the others.
func (c *cluster) connect(i int, name string) (*nats.Conn, error) {
	urls := []string{}
	for k := range c.nodes {
		ns := c.nodes[(i+k)%len(c.nodes)]
		if ns.Running() {
			urls = append(urls, ns.ClientURL())
		}
	}
	return nats.Connect(strings.Join(urls, ","), nats.Name(name), nats.DontRandomize(), nats.MaxReconnects(-1),
		nats.ReconnectWait(50*time.Millisecond), nats.RetryOnFailedConnect(false))
}

// TestThreeNodeCluster runs tokenizer and engine workers attached to
// different nodes of a three-node cluster, with the job queue replicated
// three times. Interactive requests and jobs flow; then the node leading
// the jobs stream is shut down mid-run, and every job submitted (before,
// during and after) still gets exactly one done result.
func TestThreeNodeCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("three nats-servers")
	}
	c := startCluster(t)
	admin, err := c.connect(0, "admin")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(admin.Close)
	js, err := jetstream.New(admin)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := jobs.Setup(ctx, js, jobs.Config{Replicas: 3, AckWait: 2 * time.Second, MaxDeliver: 20}); err != nil {
		t.Fatal(err)
	}
	// Component k connects to node k mod 3: e1 → n1, e2 → n2, tok-1 → n3,
	// tok-2 → n1, job consumers → n2, n3.
	next := 0
	nodeOf := map[string]int{}
	st, err := stack.Start(stack.Config{
		Model: testenv.SharedFile(t, "models/stories260K.gguf"), ModelName: modelName,
		Engines: []stack.EngineSpec{{ID: "e1", Variant: "baseline"}, {ID: "e2", Variant: "baseline"}}, Tokenizers: 2,
		Runtime: config.DefaultRuntime(), Jobs: true,
		Heartbeat: 100 * time.Millisecond, Metrics: 200 * time.Millisecond, Drain: 10 * time.Second,
		Connect: func(name string) (*nats.Conn, error) {
			i := next % 3
			next++
			nodeOf[name] = i
			return c.connect(i, name)
		},
	}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Stop(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			t.Logf("stop: %v", err)
		}
	})
	t.Logf("components by node: %v", nodeOf)
	if err := st.WaitReady(ctx, map[string]int{"baseline": 2}); err != nil {
		t.Fatal(err)
	}
	producer, err := c.connect(2, "producer")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(producer.Close)
	cl := client.New(producer, client.Options{IdleTimeout: 10 * time.Second})
	workers := map[string]bool{}
	for i := 0; i < 12; i++ {
		got, err := cl.Complete(ctx, &schemas.GenerateRequest{Prompt: fmt.Sprintf("Once upon a time %d", i), ConversationID: fmt.Sprintf("c%d", i), MaxTokens: 8})
		if err != nil {
			t.Fatalf("request %d across the cluster: %v", i, err)
		}
		workers[got.Final.Worker] = true
	}
	if len(workers) != 2 {
		t.Errorf("requests reached %v, want both engines", workers)
	}

	// Jobs: a first half, then shut the jobs stream leader down, then the rest.
	const nJobs = 30
	submit := func(from, to int) {
		pjs, err := jetstream.New(producer)
		if err != nil {
			t.Fatal(err)
		}
		for i := from; i < to; i++ {
			job := &schemas.Job{ID: fmt.Sprintf("cjob-%d", i), Request: schemas.GenerateRequest{V: 1, Prompt: fmt.Sprintf("Sue found a box %d.", i), MaxTokens: 64}}
			// A producer retries a submit that got no acknowledgement; the
			// job id dedupes it.
			deadline := time.Now().Add(30 * time.Second)
			for {
				sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				_, err := jobs.Submit(sctx, pjs, jobs.DefaultQueue, job)
				cancel()
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("submit %s: %v", job.ID, err)
				}
			}
		}
	}
	submit(0, nJobs/2)
	info, err := js.Stream(ctx, bus.JobsStream)
	if err != nil {
		t.Fatal(err)
	}
	si, err := info.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if si.Config.Replicas != 3 || si.Cluster == nil || len(si.Cluster.Replicas) != 2 {
		t.Fatalf("jobs stream not replicated 3 times: %+v", si.Cluster)
	}
	victim := -1
	for i, ns := range c.nodes {
		if ns.Name() == si.Cluster.Leader {
			victim = i
		}
	}
	if victim < 0 {
		t.Fatalf("no node leads the jobs stream (%q)", si.Cluster.Leader)
	}
	t.Logf("shutting down %s, the jobs stream leader", si.Cluster.Leader)
	c.nodes[victim].Shutdown()
	submit(nJobs/2, nJobs)

	// Requests still flow after the node loss (connections failed over).
	waitFor(t, 30*time.Second, "an interactive request after the node loss", func() bool {
		_, err := cl.Complete(ctx, &schemas.GenerateRequest{Prompt: "Lily", MaxTokens: 4})
		return err == nil
	})

	// Every job has one done result.
	// The admin connection fails over like the workers' did.
	rjs := js
	var missing []string
	waitFor(t, 90*time.Second, "every job's result after the node loss", func() bool {
		missing = missing[:0]
		for i := 0; i < nJobs; i++ {
			id := fmt.Sprintf("cjob-%d", i)
			rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			r, err := jobs.Result(rctx, rjs, id)
			cancel()
			if err != nil || r.Status != schemas.JobDone {
				missing = append(missing, id)
			}
		}
		return len(missing) == 0
	})
}
