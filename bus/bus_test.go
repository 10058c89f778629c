package bus

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/krserve/krserve/schemas"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"go.uber.org/goleak"
)

func startServer(t *testing.T, listen string) *Server {
	t.Helper()
	s, err := NewServer(ServerConfig{StoreDir: t.TempDir(), Listen: listen})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

func connect(t *testing.T, s *Server) *nats.Conn {
	t.Helper()
	nc, err := s.Connect("test", ConnDeps{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func TestServerLifecycleNoLeaks(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s, err := NewServer(ServerConfig{StoreDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	// A real TCP client proves Listen works.
	<-s.Ready()
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatalf("no TCP connection: %v", err)
	}
	js, err := nc.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.AccountInfo(); err != nil {
		t.Fatalf("JetStream not enabled: %v", err)
	}
	nc.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestServerConfigValidate(t *testing.T) {
	for _, c := range []ServerConfig{{}, {StoreDir: "x", Listen: "nope"}, {StoreDir: "x", MaxPayload: -1}} {
		if _, err := NewServer(c); err == nil {
			t.Errorf("config %+v accepted", c)
		}
	}
}

func TestNoResponderFailsAtOnce(t *testing.T) {
	nc := connect(t, startServer(t, ""))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	err := Request(ctx, nc, "krserve.v1.tokenize", &schemas.TokenizeRequest{V: 1, Texts: []string{"x"}}, &schemas.TokenizeResponse{})
	if !errors.Is(err, schemas.ErrNoWorker) {
		t.Fatalf("err = %v, want no worker", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("no-responder took %v: it must not wait for the timeout", el)
	}

	// A streamed request with no responder fails at once too.
	r, err := SubscribeStream(nc, nc.NewRespInbox(), time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := nc.PublishRequest(Subjects{}.Generate(), r.Subject(), []byte{0x80}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(ctx); !errors.Is(err, schemas.ErrNoWorker) {
		t.Fatalf("stream err = %v, want no worker", err)
	}
}

func TestStream10000InOrder(t *testing.T) {
	nc := connect(t, startServer(t, ""))
	subj := Subjects{}.Tokens("req-1")
	r, err := SubscribeStream(nc, subj, 10*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	const n = 10000
	go func() {
		w := NewStreamWriter(nc, subj, "req-1")
		for i := 0; i < n; i++ {
			if err := w.Token([]int32{int32(i)}, "x"); err != nil {
				t.Error(err)
				return
			}
		}
		if err := w.Final(schemas.FinishLength, schemas.Usage{GeneratedTokens: n}, schemas.Timings{}, "w", "baseline"); err != nil {
			t.Error(err)
		}
	}()
	ctx := context.Background()
	for i := 0; i < n; i++ {
		m, err := r.Next(ctx)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if m.Kind != schemas.KindToken || m.Seq != uint64(i) || m.IDs[0] != int32(i) {
			t.Fatalf("message %d: %+v", i, m)
		}
	}
	m, err := r.Next(ctx)
	if err != nil || m.Kind != schemas.KindFinal || m.Usage.GeneratedTokens != n {
		t.Fatalf("final: %+v %v", m, err)
	}
	if _, err := r.Next(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("after final: %v, want ErrClosed", err)
	}
}

func TestStreamGapAndIdle(t *testing.T) {
	nc := connect(t, startServer(t, ""))
	m := NewMetrics(nil)
	subj := Subjects{}.Tokens("gap")
	r, err := SubscribeStream(nc, subj, 5*time.Second, m)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w := NewStreamWriter(nc, subj, "gap")
	if err := w.Token([]int32{1}, "a"); err != nil {
		t.Fatal(err)
	}
	w.seq++ // lose message 1
	if err := w.Token([]int32{3}, "c"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := r.Next(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(ctx); !errors.Is(err, ErrGap) {
		t.Fatalf("err = %v, want ErrGap", err)
	}

	idle, err := SubscribeStream(nc, Subjects{}.Tokens("idle"), 50*time.Millisecond, m)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if _, err := idle.Next(ctx); !errors.Is(err, ErrIdle) {
		t.Fatalf("err = %v, want ErrIdle", err)
	}
	if testutilValue(m.StreamGaps) != 1 || testutilValue(m.StreamIdle) != 1 {
		t.Errorf("metrics: gaps %v idle %v", testutilValue(m.StreamGaps), testutilValue(m.StreamIdle))
	}
}

func TestMicroService(t *testing.T) {
	nc := connect(t, startServer(t, ""))
	svc, err := AddService(nc, ServiceConfig{Name: "krserve-tokenizer", Version: "0.1.0", Description: "test",
		Metadata: map[string]string{"worker": "tok-1"}, Stats: func() any { return map[string]int{"batches": 7} }})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop()
	calls := 0
	h := Handler(time.Second, func(_ context.Context, req *schemas.TokenizeRequest) (*schemas.TokenizeResponse, error) {
		calls++
		if req.Texts[0] == "fail" {
			return nil, schemas.NewError(schemas.CodeOverloaded, "busy")
		}
		return &schemas.TokenizeResponse{V: 1, IDs: [][]int32{{int32(len(req.Texts[0]))}}}, nil
	})
	if err := svc.AddEndpoint("tokenize", h, micro.WithEndpointSubject(Subjects{}.Tokenize())); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var resp schemas.TokenizeResponse
	if err := Request(ctx, nc, Subjects{}.Tokenize(), &schemas.TokenizeRequest{V: 1, Texts: []string{"abc"}}, &resp); err != nil {
		t.Fatal(err)
	}
	if resp.IDs[0][0] != 3 {
		t.Errorf("resp = %+v", resp)
	}
	err = Request(ctx, nc, Subjects{}.Tokenize(), &schemas.TokenizeRequest{V: 1, Texts: []string{"fail"}}, &resp)
	var se *schemas.Error
	if !errors.As(err, &se) || se.Code != schemas.CodeOverloaded || !se.Retryable {
		t.Fatalf("typed error lost: %v", err)
	}
	// Malformed payload: a typed bad-request reply, and the handler survives.
	msg, err := nc.Request(Subjects{}.Tokenize(), []byte("garbage"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := ServiceError(msg); !errors.Is(err, schemas.ErrBadRequest) {
		t.Fatalf("garbage: %v, want bad request", err)
	}
	if msg.Header.Get(HeaderServiceErrorCode) != "400" {
		t.Errorf("code header = %q", msg.Header.Get(HeaderServiceErrorCode))
	}

	for _, verb := range []string{"PING", "INFO", "STATS"} {
		reply, err := nc.Request("$SRV."+verb+".krserve-tokenizer", nil, time.Second)
		if err != nil {
			t.Fatalf("$SRV.%s: %v", verb, err)
		}
		if len(reply.Data) == 0 {
			t.Fatalf("$SRV.%s: empty reply", verb)
		}
	}
	info := svc.Info()
	if info.Name != "krserve-tokenizer" || len(info.Endpoints) != 1 || info.Endpoints[0].Subject != (Subjects{}).Tokenize() {
		t.Errorf("info = %+v", info)
	}
	st := svc.Stats()
	if st.Endpoints[0].NumRequests != 3 || st.Endpoints[0].NumErrors != 2 {
		t.Errorf("stats = %+v", st.Endpoints[0])
	}
	if calls != 2 {
		t.Errorf("handler called %d times, want 2 (garbage never reaches it)", calls)
	}
}

func TestSubjects(t *testing.T) {
	s := Subjects{Prefix: "acme"}
	tests := map[string]string{
		s.Generate():               "acme.v1.generate",
		s.Tokens("r1"):             "acme.v1.tokens.r1",
		s.Jobs("default"):          "acme.v1.jobs.default",
		s.Engine("canary", "e1"):   "acme.v1.engine.canary.e1",
		s.KV("e1"):                 "acme.v1.kv.e1",
		s.Heartbeat("engine", "*"): "acme.v1.heartbeat.engine.*",
		s.Metrics("baseline", "e"): "acme.v1.metrics.baseline.e",
		s.Cancel("r1"):             "acme.v1.cancel.r1",
		Subjects{}.Tokenize():      "krserve.v1.tokenize",
	}
	for got, want := range tests {
		if got != want {
			t.Errorf("%s, want %s", got, want)
		}
	}
	for _, bad := range []string{"", "a..b", "a.*", "a b"} {
		if ValidatePrefix(bad) == nil {
			t.Errorf("prefix %q accepted", bad)
		}
	}
}
