package hardening_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/krserve/krserve/bus"
	"github.com/krserve/krserve/bus/client"
	"github.com/krserve/krserve/internal/testenv"
	"github.com/krserve/krserve/schemas"
)

// TestOverloadRejectsExplicitly floods the generate subject far beyond the
// bounded queues of one tokenizer (1024 pending) and one engine (256 queued
// plus 64 running): every request either completes or gets an explicit,
// retryable 429 overloaded error, none times out or vanishes, the KV pool
// returns every block, and the heap comes back to its level before.
func TestOverloadRejectsExplicitly(t *testing.T) {
	p := startPipeline(t, pipelineOpts{idle: 60 * time.Second})
	p.mustComplete(t, "start") // warm every path before the baseline
	heapBefore, goBefore := heapInUse(), runtime.NumGoroutine()

	const n = 2000
	ctx := context.Background()
	streams := make([]*client.Stream, 0, n)
	for i := 0; i < n; i++ {
		s, err := p.cl.Generate(ctx, &schemas.GenerateRequest{Prompt: fmt.Sprintf("Once upon a time %d", i), MaxTokens: 48})
		if err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
		streams = append(streams, s)
	}
	var mu sync.Mutex
	outcomes := map[string]int{}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 256)
	for _, s := range streams {
		wg.Add(1)
		sem <- struct{}{}
		go func(s *client.Stream) {
			defer func() { <-sem; wg.Done() }()
			defer s.Close()
			key := "ok"
			for m, err := range s.Messages(ctx) {
				if err != nil {
					var e *schemas.Error
					switch {
					case errors.As(err, &e) && e.Code == schemas.CodeOverloaded && e.Retryable:
						key = "overloaded"
					default:
						key = err.Error()
					}
					break
				}
				_ = m
			}
			if key == "ok" && s.Final() == nil {
				key = "no final"
			}
			mu.Lock()
			outcomes[key]++
			mu.Unlock()
		}(s)
	}
	wg.Wait()
	t.Logf("outcomes of %d requests: %v", n, outcomes)
	if outcomes["ok"]+outcomes["overloaded"] != n {
		t.Errorf("only ok or overloaded allowed: %v", outcomes)
	}
	if outcomes["overloaded"] == 0 {
		t.Errorf("a flood of %d requests was never refused as overloaded: the queues are not bounded", n)
	}
	if outcomes["ok"] < 320 {
		t.Errorf("only %d requests completed; the engine admits 320 at once", outcomes["ok"])
	}
	if got := counter(t, p.reg, "krserve_tokenizer_requests_rejected_total", map[string]string{"code": "overloaded"}); int(got) != outcomes["overloaded"] {
		t.Errorf("tokenizer counted %v overloaded rejects, clients saw %d", got, outcomes["overloaded"])
	}
	eng := p.st.EngineCore[0]
	waitFor(t, 10*time.Second, "the engine to go idle", func() bool { r, q := eng.Sched.Load(); return r == 0 && q == 0 })
	if st := eng.Pool.Stats(); st.UsedBlocks != 0 || st.Sequences != 0 {
		t.Errorf("after the flood the pool still holds %d blocks of %d sequences", st.UsedBlocks, st.Sequences)
	}
	p.mustComplete(t, "the flood")
	// Bounded memory: what the flood allocated is garbage once it is over.
	waitFor(t, 10*time.Second, "the goroutines of the flood to exit", func() bool { return runtime.NumGoroutine() <= goBefore+20 })
	heapAfter := heapInUse()
	t.Logf("heap in use %d KiB → %d KiB, goroutines %d → %d", heapBefore>>10, heapAfter>>10, goBefore, runtime.NumGoroutine())
	if heapAfter > heapBefore+32<<20 {
		t.Errorf("heap grew by %d MiB over a flood of %d requests", (heapAfter-heapBefore)>>20, n)
	}
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// FuzzGenerateSubject publishes fuzzed bytes on the generate subject of a
// running pipeline: the answer must be a typed client error (4xx, or 429
// when busy) or a valid stream (tokens in order, then one final message).
// A 5xx other than overload means the worker failed on input it should
// have refused, and a missing answer means it dropped the request.
func FuzzGenerateSubject(f *testing.F) {
	for _, name := range []string{"generate_request.msgpack.hex", "generate_request_chat.msgpack.hex"} {
		b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(f), "schemas", "testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(dumpBytes(f, b))
	}
	for _, r := range []schemas.GenerateRequest{
		{V: 1, Prompt: "Once upon a time", MaxTokens: 8},
		{V: 1, Messages: []schemas.ChatMessage{{Role: "user", Content: "Tell me a story."}}, MaxTokens: 8, Sampling: schemas.Sampling{Temperature: 0.8, TopP: 0.9, Seed: 7}},
		{V: 1, Prompt: "Lily", Stop: []string{"."}, StopIDs: []int32{13}, MaxTokens: 16, ConversationID: "c1"},
	} {
		b, err := schemas.Encode(&r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0xc1})
	f.Add([]byte{0x81, 0xa1, 0x76, 0x01})
	p := startPipeline(f, pipelineOpts{})
	f.Fuzz(func(t *testing.T, payload []byte) {
		if len(payload) > 64<<10 {
			return // the payload limits have their own test
		}
		subject := p.nc.NewInbox()
		var req schemas.GenerateRequest
		if schemas.Decode(payload, &req) == nil && req.TokenSubject != "" {
			subject = req.TokenSubject // the stream goes there instead of the reply inbox
		}
		r, err := bus.SubscribeStream(p.nc, subject, 20*time.Second, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if err := p.nc.PublishRequest(bus.Subjects{}.Generate(), r.Subject(), payload); err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		for tokens := 0; ; tokens++ {
			m, err := r.Next(ctx)
			if err != nil {
				t.Fatalf("after %d tokens: %v", tokens, err)
			}
			switch m.Kind {
			case schemas.KindToken:
				continue
			case schemas.KindFinal:
				if m.Usage == nil || m.Usage.GeneratedTokens < 0 {
					t.Fatalf("final without usage: %+v", m)
				}
				return
			case schemas.KindError:
				c := m.Error.Code
				if (c < 400 || c >= 500) && c != schemas.CodeNoWorker {
					t.Fatalf("input answered with %v", m.Error)
				}
				return
			default:
				t.Fatalf("unknown message kind %q", m.Kind)
			}
		}
	})
}

// dumpBytes parses a hex.Dump listing (the golden files of schemas).
func dumpBytes(tb testing.TB, dump []byte) []byte {
	tb.Helper()
	var digits bytes.Buffer
	for _, line := range bytes.Split(dump, []byte("\n")) {
		if len(line) < 10 {
			continue
		}
		body := line[10:]
		if i := bytes.IndexByte(body, '|'); i >= 0 {
			body = body[:i]
		}
		digits.Write(bytes.ReplaceAll(body, []byte(" "), nil))
	}
	b, err := hex.DecodeString(digits.String())
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
