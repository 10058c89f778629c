package engined

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/krserve/krserve/bus"
	"github.com/krserve/krserve/config"
	"github.com/krserve/krserve/engined/llama"
	"github.com/krserve/krserve/engined/sample"
	"github.com/krserve/krserve/internal/testenv"
	"github.com/krserve/krserve/schemas"
	"github.com/krserve/krserve/tokenizerd/tokenizer"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

type fixture struct {
	nc   *nats.Conn
	w    *Worker
	eng  *Engine
	tok  *tokenizer.Tokenizer
	stop func() error
}

func startWorker(t *testing.T, nc *nats.Conn, id string) *fixture {
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
	eng, err := NewEngine(m, tok, DefaultEngineConfig("stories260k", config.DefaultRuntime().CPU.KVCachePool), nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWorker(Config{WorkerID: id, Variant: "baseline", ModelName: "stories260k", HeartbeatInterval: 50 * time.Millisecond,
		MetricsInterval: 50 * time.Millisecond, DrainTimeout: 10 * time.Second}, Deps{NC: nc, Engine: eng})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() { _ = stop() })
	// Ready once its heartbeat is out.
	sub, _ := nc.SubscribeSync(bus.Subjects{}.Heartbeat("engine", id))
	defer sub.Unsubscribe()
	if _, err := sub.NextMsg(10 * time.Second); err != nil {
		t.Fatalf("no heartbeat: %v", err)
	}
	return &fixture{nc: nc, w: w, eng: eng, tok: tok, stop: stop}
}

func send(t *testing.T, f *fixture, req *schemas.EngineRequest) *bus.StreamReader {
	t.Helper()
	// A plain inbox, not one under the connection's request mux, so that
	// closing the reader really removes the stream's last subscriber.
	r, err := bus.SubscribeStream(f.nc, f.nc.NewInbox(), 30*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	req.V, req.StreamSubject = schemas.Version, r.Subject()
	b, err := schemas.Encode(req)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := f.nc.Request(f.w.Subject(), b, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.ServiceError(msg); err != nil {
		t.Fatalf("admission: %v", err)
	}
	return r
}

func collect(t *testing.T, r *bus.StreamReader) ([]int32, string, *schemas.StreamMsg) {
	t.Helper()
	var ids []int32
	text := ""
	for {
		m, err := r.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		switch m.Kind {
		case schemas.KindToken:
			ids = append(ids, m.IDs...)
			text += m.Text
		case schemas.KindError:
			t.Fatalf("stream error: %v", m.Error)
		case schemas.KindFinal:
			return ids, text, m
		}
	}
}

func TestWorkerStreamsGreedyOutput(t *testing.T) {
	_, nc := testenv.NATS(t)
	f := startWorker(t, nc, "e1")
	prompt := f.tok.Encode("Once upon a time", tokenizer.EncodeOptions{AddBOS: true})
	r := send(t, f, &schemas.EngineRequest{RequestID: "r1", PromptIDs: prompt, MaxTokens: 40, ConversationID: "c1"})
	ids, text, final := collect(t, r)

	ref, err := llama.Load(testenv.SharedFile(t, "models/stories260K.gguf"), llama.WithBackend("native", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	smp, _ := sample.New(sample.Params{}, ref.Config().Vocab)
	g, err := ref.Generate(context.Background(), prompt, smp, llama.GenerateOptions{MaxTokens: 40}, func(int32) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, g.IDs) {
		t.Fatalf("stream ids differ from Generate:\n got %v\nwant %v", ids, g.IDs)
	}
	if text != f.tok.Decode(g.IDs) {
		t.Errorf("text deltas %q != decoded %q", text, f.tok.Decode(g.IDs))
	}
	if final.Usage.PromptTokens != int32(len(prompt)) || final.Usage.GeneratedTokens != int32(len(ids)) || final.Worker != "e1" || final.Timings.TTFTUs <= 0 {
		t.Errorf("final = %+v usage %+v timings %+v", final, final.Usage, final.Timings)
	}

	// The same conversation's next turn reuses the cached prefix.
	turn2 := append(append(slices.Clone(prompt), ids...), f.tok.Encode(" The end.", tokenizer.EncodeOptions{})...)
	_, _, final2 := collect(t, send(t, f, &schemas.EngineRequest{RequestID: "r2", PromptIDs: turn2, MaxTokens: 5, ConversationID: "c1"}))
	if final2.Usage.CachedTokens < 32 {
		t.Errorf("turn 2 cached %d of %d tokens", final2.Usage.CachedTokens, len(turn2))
	}
}

func TestWorkerCancelsWhenConsumerLeaves(t *testing.T) {
	_, nc := testenv.NATS(t)
	f := startWorker(t, nc, "e2")
	r := send(t, f, &schemas.EngineRequest{RequestID: "gone", PromptIDs: []int32{1, 400}, MaxTokens: 450})
	if _, err := r.Next(context.Background()); err != nil {
		t.Fatal(err)
	}
	_ = r.Close()
	deadline := time.Now().Add(10 * time.Second)
	for f.eng.Pool.Stats().Sequences != 0 || f.w.inflightCount() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("request kept running after its consumer left: %+v", f.eng.Pool.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := testutil.ToFloat64(f.w.gone); got < 1 {
		t.Errorf("consumer-gone cancellations = %v, want at least 1 (the request must not simply have finished)", got)
	}
}

func TestWorkerCancelSubjectAndBadInput(t *testing.T) {
	_, nc := testenv.NATS(t)
	f := startWorker(t, nc, "e3")
	r := send(t, f, &schemas.EngineRequest{RequestID: "c9", PromptIDs: []int32{1, 400}, MaxTokens: 450})
	b, _ := schemas.Encode(&schemas.Cancel{V: 1, RequestID: "c9"})
	if err := nc.Publish(bus.Subjects{}.Cancel("c9"), b); err != nil {
		t.Fatal(err)
	}
	_, _, final := collect(t, r)
	if final.FinishReason != schemas.FinishCanceled {
		t.Errorf("finish = %s, want canceled", final.FinishReason)
	}
	for _, payload := range [][]byte{[]byte("junk"), mustEncode(t, &schemas.Cancel{V: 1, RequestID: "x"})} {
		msg, err := nc.Request(f.w.Subject(), payload, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if err := bus.ServiceError(msg); !errorsIsBadRequest(err) {
			t.Errorf("bad payload: %v, want bad request", err)
		}
	}
	req := &schemas.EngineRequest{V: 1, RequestID: "v", PromptIDs: []int32{1, 99999}, StreamSubject: "x.y"}
	msg, err := nc.Request(f.w.Subject(), mustEncode(t, req), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.ServiceError(msg); !errorsIsBadRequest(err) {
		t.Errorf("token outside vocab: %v", err)
	}
}

func TestWorkerDrainFinishesInFlight(t *testing.T) {
	_, nc := testenv.NATS(t)
	f := startWorker(t, nc, "e4")
	r := send(t, f, &schemas.EngineRequest{RequestID: "d1", PromptIDs: []int32{1, 400}, MaxTokens: 120})
	hb, _ := nc.SubscribeSync(bus.Subjects{}.Heartbeat("engine", "e4"))
	defer hb.Unsubscribe()
	errc := make(chan error, 1)
	go func() { errc <- f.stop() }()
	ids, _, final := collect(t, r)
	if final.FinishReason != schemas.FinishLength || len(ids) != 120 {
		t.Errorf("drained request: %d tokens, %s", len(ids), final.FinishReason)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	states := map[schemas.WorkerState]bool{}
	for {
		m, err := hb.NextMsg(time.Second)
		if err != nil {
			break
		}
		var h schemas.Heartbeat
		if schemas.Decode(m.Data, &h) == nil {
			states[h.State] = true
		}
	}
	if !states[schemas.StateDraining] || !states[schemas.StateStopped] {
		t.Errorf("heartbeats during drain: %v", states)
	}
}

func mustEncode(t *testing.T, m schemas.Message) []byte {
	b, err := schemas.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func errorsIsBadRequest(err error) bool {
	e, ok := err.(*schemas.Error)
	return ok && e.Code == schemas.CodeBadRequest
}
