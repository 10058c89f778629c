package bus

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/krserve/krserve/schemas"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
)

// The tests in this file run a real nats-server from the documented
// deployment config (deploy/nats/krserve-auth.conf) and prove with real
// connections what each role can and cannot do.

const authConfig = "../deploy/nats/krserve-auth.conf"

// roles are the users of deploy/nats/permissions.conf.
var roles = []string{"producer", "consumer", "tokenizer", "engine", "controller", "operator"}

func rolePassword(role string) string { return "test-secret-" + role }

// waitFor bounds every wait on the server; nothing here sleeps.
const waitFor = 10 * time.Second

// startAuthServer starts nats-server from the deployment config on a random
// loopback port with JetStream in a temporary directory.
func startAuthServer(t *testing.T) *server.Server {
	t.Helper()
	for _, r := range roles {
		t.Setenv("KRSERVE_NATS_"+strings.ToUpper(r)+"_PASSWORD", rolePassword(r))
	}
	opts, err := server.ProcessConfigFile(authConfig)
	if err != nil {
		t.Fatalf("parse %s: %v", authConfig, err)
	}
	opts.Host, opts.Port = "127.0.0.1", server.RANDOM_PORT
	opts.HTTPHost, opts.HTTPPort = "", 0 // no monitoring listener in tests
	opts.StoreDir = t.TempDir()
	opts.JetStreamMaxMemory, opts.JetStreamMaxStore = 64<<20, 256<<20
	opts.NoSigs, opts.NoLog = true, true
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(waitFor) {
		ns.Shutdown()
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns
}

// roleConn is a connection as one role, with its asynchronous errors.
type roleConn struct {
	role string
	nc   *nats.Conn
	errs chan error
}

// dial connects as role through bus.Connect with the role's inbox prefix
// (`_INBOX.<role>`, the scheme deploy/nats/permissions.conf expects).
func dial(t *testing.T, ns *server.Server, role string) *roleConn {
	t.Helper()
	rc := &roleConn{role: role, errs: make(chan error, 128)}
	nc, err := Connect(ConnConfig{URL: ns.ClientURL(), User: role, Password: rolePassword(role), Timeout: waitFor},
		"krserve-test-"+role, ConnDeps{},
		nats.CustomInboxPrefix("_INBOX."+role),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			select {
			case rc.errs <- err:
			default:
				t.Errorf("%s: async error buffer full, lost %v", role, err)
			}
		}))
	if err != nil {
		t.Fatalf("connect as %s: %v", role, err)
	}
	t.Cleanup(nc.Close)
	rc.nc = nc
	return rc
}

// expectViolation waits for the next asynchronous error of rc and checks
// that it is the permissions violation for op ("publish" or "subscription")
// on subject. Errors arrive in the order the server sent them, so an
// unexpected earlier violation fails here too.
func (rc *roleConn) expectViolation(t *testing.T, op, subject string) {
	t.Helper()
	want := strings.ToLower(fmt.Sprintf("%s to %q", op, subject))
	select {
	case err := <-rc.errs:
		if !errors.Is(err, nats.ErrPermissionViolation) || !strings.Contains(strings.ToLower(err.Error()), want) {
			t.Fatalf("%s: got async error %v, want a permissions violation for %s", rc.role, err, want)
		}
	case <-time.After(waitFor):
		t.Fatalf("%s: no permissions violation for %s within %v", rc.role, want, waitFor)
	}
}

// expectNoViolations proves that nothing rc did so far was denied: it
// publishes to a subject no role may use and requires that violation to be
// the first error reported.
func (rc *roleConn) expectNoViolations(t *testing.T) {
	t.Helper()
	sentinel := "krserve.v1.sentinel." + rc.role
	if err := rc.nc.Publish(sentinel, nil); err != nil {
		t.Fatal(err)
	}
	rc.expectViolation(t, "publish", sentinel)
}

func (rc *roleConn) js(t *testing.T) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(rc.nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func encode(t *testing.T, m schemas.Message) []byte {
	t.Helper()
	b, err := schemas.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func nextMsg(t *testing.T, sub *nats.Subscription) *nats.Msg {
	t.Helper()
	msg, err := sub.NextMsg(waitFor)
	if err != nil {
		t.Fatalf("nothing on %s: %v", sub.Subject, err)
	}
	return msg
}

// provision creates the JetStream assets as the controller does at start.
func provision(ctx context.Context, t *testing.T, js jetstream.JetStream) (control jetstream.KeyValue) {
	t.Helper()
	control, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: ControlBucket, History: 5})
	if err != nil {
		t.Fatalf("controller creates %s: %v", ControlBucket, err)
	}
	if _, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: ResultsBucket}); err != nil {
		t.Fatalf("controller creates %s: %v", ResultsBucket, err)
	}
	s := Subjects{}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: JobsStream, Subjects: []string{s.Jobs(">")},
		Retention: jetstream.WorkQueuePolicy, Duplicates: 2 * time.Minute}); err != nil {
		t.Fatalf("controller creates %s: %v", JobsStream, err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: DeadStream, Subjects: []string{s.DeadJobs(">")}}); err != nil {
		t.Fatalf("controller creates %s: %v", DeadStream, err)
	}
	if _, err := js.CreateOrUpdateConsumer(ctx, JobsStream, jetstream.ConsumerConfig{Durable: "engine",
		AckPolicy: jetstream.AckExplicitPolicy, MaxDeliver: 5}); err != nil {
		t.Fatalf("controller creates the jobs consumer: %v", err)
	}
	return control
}

// TestNATSPermissions runs every role of the least-privilege config through
// the flows it takes part in, then checks that what the role must not do is
// denied by the server.
func TestNATSPermissions(t *testing.T) {
	ns := startAuthServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := Subjects{}
	conns := map[string]*roleConn{}
	for _, r := range roles {
		conns[r] = dial(t, ns, r)
	}
	producer, consumer, tokenizer, engine, controller, operator :=
		conns["producer"], conns["consumer"], conns["tokenizer"], conns["engine"], conns["controller"], conns["operator"]

	// Controller: creates the JetStream assets and writes the weights.
	control := provision(ctx, t, controller.js(t))
	if _, err := control.Put(ctx, "weights", []byte(`{"baseline":"baseline","canary":{"canary":10}}`)); err != nil {
		t.Fatalf("controller writes weights: %v", err)
	}
	metricsSub, err := controller.nc.SubscribeSync(s.Metrics("*", "*"))
	if err != nil {
		t.Fatal(err)
	}

	// Operator: watches everything on krserve subjects.
	watchAll, err := operator.nc.SubscribeSync("krserve.v1.>")
	if err != nil {
		t.Fatal(err)
	}

	// Engine: direct and variant subjects, cancel, the control bucket
	// (read-only), a micro service, and the stream it writes to.
	engineKV, err := engine.js(t).KeyValue(ctx, ControlBucket)
	if err != nil {
		t.Fatalf("engine binds %s: %v", ControlBucket, err)
	}
	watcher, err := engineKV.Watch(ctx, "weights")
	if err != nil {
		t.Fatalf("engine watches weights: %v", err)
	}
	defer watcher.Stop()
	select {
	case e := <-watcher.Updates():
		if e == nil || !strings.Contains(string(e.Value()), `"canary":10`) {
			t.Fatalf("engine watch: got %v, want the weights", e)
		}
	case <-ctx.Done():
		t.Fatal("engine watch delivered nothing")
	}
	engineReqs := make(chan *schemas.EngineRequest, 4)
	serve := func(m *nats.Msg) {
		var req schemas.EngineRequest
		if err := schemas.Decode(m.Data, &req); err != nil {
			t.Errorf("engine: %v", err)
			return
		}
		w := NewStreamWriter(engine.nc, req.StreamSubject, req.RequestID)
		if err := w.Token([]int32{7}, "ok"); err != nil {
			t.Errorf("engine streams a token: %v", err)
		}
		if err := w.Final(schemas.FinishStop, schemas.Usage{PromptTokens: int32(len(req.PromptIDs)), GeneratedTokens: 1}, schemas.Timings{}, "e1", "baseline"); err != nil {
			t.Errorf("engine ends the stream: %v", err)
		}
		engineReqs <- &req
	}
	direct, err := engine.nc.Subscribe(s.Engine("baseline", "e1"), serve)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := engine.nc.QueueSubscribe(s.EngineVariant("baseline"), QueueEngine("baseline"), serve); err != nil {
		t.Fatal(err)
	}
	cancels, err := engine.nc.SubscribeSync(s.Cancel("*"))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := AddService(engine.nc, ServiceConfig{Name: "krserve-engine", Version: "0.1.0"})
	if err != nil {
		t.Fatalf("engine registers its micro service: %v", err)
	}
	defer func() { _ = svc.Stop() }()

	// Tokenizer: generate in its queue group, the tokenize micro service,
	// KV events and heartbeats for routing.
	if _, err := tokenizer.nc.QueueSubscribe(s.Generate(), QueueTokenizer, func(m *nats.Msg) {
		var g schemas.GenerateRequest
		if err := schemas.Decode(m.Data, &g); err != nil {
			t.Errorf("tokenizer: %v", err)
			return
		}
		stream := m.Reply
		if g.TokenSubject != "" {
			stream = g.TokenSubject
		}
		er := &schemas.EngineRequest{V: schemas.Version, RequestID: g.ID, PromptIDs: []int32{1, 2, 3}, StreamSubject: stream,
			Variant: "baseline", ReceivedUnixUs: 1}
		b, err := schemas.Encode(er)
		if err == nil {
			err = tokenizer.nc.Publish(s.EngineVariant("baseline"), b)
		}
		if err != nil {
			t.Errorf("tokenizer forwards: %v", err)
		}
	}); err != nil {
		t.Fatal(err)
	}
	tsvc, err := AddService(tokenizer.nc, ServiceConfig{Name: "krserve-tokenizer", Version: "0.1.0"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tsvc.Stop() }()
	if err := tsvc.AddEndpoint("tokenize", Handler(time.Second, func(_ context.Context, req *schemas.TokenizeRequest) (*schemas.TokenizeResponse, error) {
		return &schemas.TokenizeResponse{V: schemas.Version, IDs: [][]int32{{int32(len(req.Texts[0]))}}}, nil
	}), micro.WithEndpointSubject(s.Tokenize())); err != nil {
		t.Fatal(err)
	}
	kvEvents, err := tokenizer.nc.SubscribeSync(s.KV("*"))
	if err != nil {
		t.Fatal(err)
	}
	heartbeats, err := tokenizer.nc.SubscribeSync(s.Heartbeat("engine", "*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, rc := range conns {
		if err := rc.nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("producer generates and reads its stream on its own inbox", func(t *testing.T) {
		inbox := producer.nc.NewInbox()
		if !strings.HasPrefix(inbox, "_INBOX.producer.") {
			t.Fatalf("inbox %q does not carry the producer prefix", inbox)
		}
		r, err := SubscribeStream(producer.nc, inbox, waitFor, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		req := encode(t, &schemas.GenerateRequest{V: schemas.Version, ID: "req-1", Prompt: "hello"})
		if err := producer.nc.PublishRequest(s.Generate(), inbox, req); err != nil {
			t.Fatal(err)
		}
		tok, err := r.Next(ctx)
		if err != nil || tok.Kind != schemas.KindToken || tok.Text != "ok" {
			t.Fatalf("first stream message %+v, %v; want the token", tok, err)
		}
		fin, err := r.Next(ctx)
		if err != nil || fin.Kind != schemas.KindFinal || fin.Usage.PromptTokens != 3 {
			t.Fatalf("second stream message %+v, %v; want the final", fin, err)
		}
		<-engineReqs
	})

	t.Run("producer tokenizes through the micro service", func(t *testing.T) {
		var resp schemas.TokenizeResponse
		if err := Request(ctx, producer.nc, s.Tokenize(), &schemas.TokenizeRequest{V: schemas.Version, Texts: []string{"four"}}, &resp); err != nil {
			t.Fatalf("tokenize: %v", err)
		}
		if len(resp.IDs) != 1 || !slices.Equal(resp.IDs[0], []int32{4}) {
			t.Fatalf("tokenize reply %v", resp.IDs)
		}
	})

	t.Run("producer submits a job the engine runs and reads the result", func(t *testing.T) {
		job := encode(t, &schemas.Job{V: schemas.Version, ID: "job-1", Request: schemas.GenerateRequest{Prompt: "batch"}})
		if _, err := producer.js(t).Publish(ctx, s.Jobs("default"), job, jetstream.WithMsgID("job-1")); err != nil {
			t.Fatalf("producer submits a job: %v", err)
		}
		ejs := engine.js(t)
		cons, err := ejs.Consumer(ctx, JobsStream, "engine")
		if err != nil {
			t.Fatalf("engine binds the jobs consumer: %v", err)
		}
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(waitFor))
		if err != nil {
			t.Fatal(err)
		}
		var got []jetstream.Msg
		for m := range batch.Messages() {
			got = append(got, m)
		}
		if len(got) != 1 || got[0].Headers().Get("Nats-Msg-Id") != "job-1" {
			t.Fatalf("engine fetched %d jobs (err %v), want job-1", len(got), batch.Error())
		}
		if err := got[0].InProgress(); err != nil {
			t.Fatalf("engine extends the ack deadline: %v", err)
		}
		results, err := ejs.KeyValue(ctx, ResultsBucket)
		if err != nil {
			t.Fatalf("engine binds %s: %v", ResultsBucket, err)
		}
		res := encode(t, &schemas.JobResult{V: schemas.Version, JobID: "job-1", Status: schemas.JobDone, Text: "ok", Deliveries: 1, CompletedUnixMs: 1})
		if _, err := results.Put(ctx, "job-1", res); err != nil {
			t.Fatalf("engine stores the result: %v", err)
		}
		if err := got[0].DoubleAck(ctx); err != nil {
			t.Fatalf("engine acks the job: %v", err)
		}
		pres, err := producer.js(t).KeyValue(ctx, ResultsBucket)
		if err != nil {
			t.Fatalf("producer binds %s: %v", ResultsBucket, err)
		}
		e, err := pres.Get(ctx, "job-1")
		if err != nil {
			t.Fatalf("producer reads the result: %v", err)
		}
		var jr schemas.JobResult
		if err := schemas.Decode(e.Value(), &jr); err != nil || jr.Status != schemas.JobDone {
			t.Fatalf("result %+v, %v", jr, err)
		}
		if _, err := engine.js(t).Publish(ctx, s.DeadJobs("default"), job); err != nil {
			t.Fatalf("engine dead-letters a job: %v", err)
		}
	})

	t.Run("producer cancels", func(t *testing.T) {
		if err := producer.nc.Publish(s.Cancel("req-1"), encode(t, &schemas.Cancel{V: schemas.Version, RequestID: "req-1"})); err != nil {
			t.Fatal(err)
		}
		if m := nextMsg(t, cancels); m.Subject != s.Cancel("req-1") {
			t.Fatalf("engine got cancel on %s", m.Subject)
		}
	})

	t.Run("engine publishes heartbeats, KV events and metric events", func(t *testing.T) {
		for _, subj := range []string{s.Heartbeat("engine", "e1"), s.KV("e1"), s.Metrics("baseline", "e1")} {
			if err := engine.nc.Publish(subj, []byte{0x80}); err != nil {
				t.Fatal(err)
			}
		}
		if m := nextMsg(t, heartbeats); m.Subject != s.Heartbeat("engine", "e1") {
			t.Fatalf("tokenizer heartbeat on %s", m.Subject)
		}
		if m := nextMsg(t, kvEvents); m.Subject != s.KV("e1") {
			t.Fatalf("tokenizer KV event on %s", m.Subject)
		}
		if m := nextMsg(t, metricsSub); m.Subject != s.Metrics("baseline", "e1") {
			t.Fatalf("controller metric event on %s", m.Subject)
		}
	})

	t.Run("operator discovers micro services", func(t *testing.T) {
		m, err := operator.nc.RequestWithContext(ctx, "$SRV.PING.krserve-engine", nil)
		if err != nil {
			t.Fatalf("operator pings the engine service: %v", err)
		}
		if !strings.Contains(string(m.Data), `"krserve-engine"`) {
			t.Fatalf("ping reply %s", m.Data)
		}
	})

	t.Run("token subjects reach the consumer role only", func(t *testing.T) {
		sub, err := consumer.nc.SubscribeSync(s.Tokens("req-2"))
		if err != nil {
			t.Fatal(err)
		}
		if err := consumer.nc.Flush(); err != nil {
			t.Fatal(err)
		}
		req := encode(t, &schemas.GenerateRequest{V: schemas.Version, ID: "req-2", Prompt: "hi", TokenSubject: s.Tokens("req-2")})
		if err := producer.nc.Publish(s.Generate(), req); err != nil {
			t.Fatal(err)
		}
		var sm schemas.StreamMsg
		if err := schemas.Decode(nextMsg(t, sub).Data, &sm); err != nil || sm.RequestID != "req-2" {
			t.Fatalf("consumer stream message %+v, %v", sm, err)
		}
		<-engineReqs
	})

	// Every role did its job without a single denial.
	for _, r := range roles {
		conns[r].expectNoViolations(t)
	}

	t.Run("producer is denied what is not its job", func(t *testing.T) {
		for _, subj := range []string{
			s.Engine("baseline", "e1"),
			s.EngineVariant("baseline"),
			"$KV." + ControlBucket + ".weights",
			"$KV." + ResultsBucket + ".job-1",
			"$JS.API.STREAM.INFO.KV_" + ControlBucket,
			"$JS.API.STREAM.DELETE." + JobsStream,
			"$JS.API.STREAM.PURGE." + JobsStream,
			s.Heartbeat("engine", "e1"),
			s.Metrics("baseline", "e1"),
			s.KV("e1"),
			s.Tokens("req-1"),
			s.Alerts(),
		} {
			if err := producer.nc.Publish(subj, []byte{0x80}); err != nil {
				t.Fatal(err)
			}
			producer.expectViolation(t, "publish", subj)
		}
		for _, subj := range []string{s.Tokens(">"), s.Tokens("req-2"), "_INBOX.>", "_INBOX.engine.>", "_INBOX.consumer.>",
			"krserve.v1.>", s.Engine("baseline", ">"), s.Generate(), "$KV." + ControlBucket + ".>"} {
			if _, err := producer.nc.SubscribeSync(subj); err != nil {
				t.Fatal(err)
			}
			producer.expectViolation(t, "subscription", subj)
		}
		// The server registered none of the denied subscriptions.
		cz, err := ns.Connz(&server.ConnzOptions{Subscriptions: true, User: "producer"})
		if err != nil || len(cz.Conns) != 1 {
			t.Fatalf("connz: %v, %d connections", err, len(cz.Conns))
		}
		for _, sub := range cz.Conns[0].Subs {
			if !strings.HasPrefix(sub, "_INBOX.producer.") {
				t.Errorf("server holds producer subscription %q", sub)
			}
		}
		// The denied publish to the engine's direct subject never arrived: the
		// next message there is the tokenizer's, sent after the denial.
		marker := encode(t, &schemas.EngineRequest{V: schemas.Version, RequestID: "marker", PromptIDs: []int32{1}, StreamSubject: s.Tokens("marker"), ReceivedUnixUs: 1})
		if err := direct.Unsubscribe(); err != nil {
			t.Fatal(err)
		}
		probe, err := engine.nc.SubscribeSync(s.Engine("baseline", "e1"))
		if err != nil {
			t.Fatal(err)
		}
		if err := engine.nc.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := producer.nc.Publish(s.Engine("baseline", "e1"), []byte("forged")); err != nil {
			t.Fatal(err)
		}
		producer.expectViolation(t, "publish", s.Engine("baseline", "e1"))
		if err := tokenizer.nc.Publish(s.Engine("baseline", "e1"), marker); err != nil {
			t.Fatal(err)
		}
		if m := nextMsg(t, probe); string(m.Data) != string(marker) {
			t.Fatalf("engine received %q before the marker", m.Data)
		}
	})

	t.Run("workers and operators cannot forge each other's subjects", func(t *testing.T) {
		for _, c := range []struct {
			rc      *roleConn
			subject string
		}{
			{engine, "$KV." + ControlBucket + ".weights"},
			{engine, s.Generate()},
			{tokenizer, "$KV." + ControlBucket + ".weights"},
			{tokenizer, s.Metrics("baseline", "e1")},
			{controller, s.Engine("baseline", "e1")},
			{controller, s.Metrics("baseline", "e1")},
			{operator, s.Metrics("baseline", "e1")},
			{operator, s.Engine("baseline", "e1")},
			{consumer, s.Generate()},
		} {
			if err := c.rc.nc.Publish(c.subject, []byte{0x80}); err != nil {
				t.Fatal(err)
			}
			c.rc.expectViolation(t, "publish", c.subject)
		}
		if _, err := engine.nc.SubscribeSync("_INBOX.producer.>"); err != nil {
			t.Fatal(err)
		}
		engine.expectViolation(t, "subscription", "_INBOX.producer.>")
	})

	t.Run("operator sees worker traffic", func(t *testing.T) {
		seen := map[string]bool{}
		for !seen[s.Heartbeat("engine", "e1")] || !seen[s.Metrics("baseline", "e1")] {
			seen[nextMsg(t, watchAll).Subject] = true
		}
	})
}

// TestNATSAuthRejectsBadPassword checks that the config requires the
// role's own password.
func TestNATSAuthRejectsBadPassword(t *testing.T) {
	ns := startAuthServer(t)
	for _, c := range []struct{ user, password string }{
		{"producer", "wrong"},
		{"producer", rolePassword("engine")},
		{"nobody", "x"},
	} {
		_, err := Connect(ConnConfig{URL: ns.ClientURL(), User: c.user, Password: c.password, Timeout: waitFor}, "bad", ConnDeps{},
			nats.MaxReconnects(0))
		if !errors.Is(err, nats.ErrAuthorization) {
			t.Errorf("user %s: got %v, want %v", c.user, err, nats.ErrAuthorization)
		}
	}
}

// TestNATSConfigFilesParse parses every documented server config, including
// the three cluster nodes of the scale-out setup.
func TestNATSConfigFilesParse(t *testing.T) {
	for _, r := range roles {
		t.Setenv("KRSERVE_NATS_"+strings.ToUpper(r)+"_PASSWORD", rolePassword(r))
	}
	files, err := filepath.Glob("../deploy/nats/cluster/node*.conf")
	if err != nil || len(files) != 3 {
		t.Fatalf("cluster configs %v, %v; want 3", files, err)
	}
	names := map[string]bool{}
	for _, f := range append(files, authConfig) {
		opts, err := server.ProcessConfigFile(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if !opts.JetStream || opts.StoreDir == "" {
			t.Errorf("%s: JetStream off or no store_dir", f)
		}
		if names[opts.ServerName] {
			t.Errorf("%s: server_name %q reused", f, opts.ServerName)
		}
		names[opts.ServerName] = true
		if strings.Contains(f, "cluster") {
			if opts.Cluster.Name != "krserve" || len(opts.Routes) != 3 || opts.Cluster.Port == 0 {
				t.Errorf("%s: cluster %q, %d routes, port %d", f, opts.Cluster.Name, len(opts.Routes), opts.Cluster.Port)
			}
		}
	}
}
