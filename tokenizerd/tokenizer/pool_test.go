package tokenizer

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/krserve/krserve/internal/testenv"
)

// startPool runs a pool until the test ends.
func startPool(t *testing.T, tk *Tokenizer, cfg ParallelConfig, reg prometheus.Registerer) *Pool {
	t.Helper()
	p, err := NewPool(tk, cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	t.Cleanup(func() {
		p.Close()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return p
}

func manyTexts(t testing.TB, n int) []string {
	base := corpus(t)
	r := rand.New(rand.NewPCG(3, 4))
	out := make([]string, n)
	for i := range out {
		s := base[r.IntN(len(base))]
		if len(s) > 0 {
			a := r.IntN(len(s))
			s = s[a:min(len(s), a+r.IntN(400))]
		}
		out[i] = s + " <|endoftext|></s>"[:r.IntN(18)]
	}
	return out
}

func TestEncodeBatchMatchesSequential(t *testing.T) {
	for name, tk := range fuzzTokenizers(t) {
		t.Run(name, func(t *testing.T) {
			cfg := DefaultParallelConfig()
			cfg.NumThreads, cfg.FallbackOnError = 4, false
			p := startPool(t, tk, cfg, prometheus.NewRegistry())
			texts := manyTexts(t, 300)
			o := EncodeOptions{AddBOS: true, Special: SpecialAll}
			var wg sync.WaitGroup
			for g := range 4 { // concurrent batches share the workers
				wg.Go(func() {
					got, err := p.EncodeBatch(context.Background(), texts[g*20:], o)
					if err != nil {
						t.Error(err)
						return
					}
					for i, ids := range got {
						if want := tk.Encode(texts[g*20+i], o); !slices.Equal(ids, want) {
							t.Errorf("text %d differs", g*20+i)
						}
					}
				})
			}
			wg.Wait()
		})
	}
}

func TestEncodeLongMatchesEncode(t *testing.T) {
	long := strings.Repeat(strings.Join(corpus(t), "\n"), 3)
	long = strings.ReplaceAll(long, "▁", "_")
	for name, tk := range fuzzTokenizers(t) {
		t.Run(name, func(t *testing.T) {
			cfg := DefaultParallelConfig()
			cfg.NumThreads, cfg.ChunkBytes, cfg.FallbackOnError = 3, 4096, false
			reg := prometheus.NewRegistry()
			p := startPool(t, tk, cfg, reg)
			for _, text := range []string{long, long + "<|endoftext|>" + long[:5000], strings.Repeat("a", 50_000), long[:9000]} {
				for _, o := range []EncodeOptions{{}, {AddBOS: true, AddEOS: true, Special: SpecialAll}} {
					got, err := p.EncodeLong(context.Background(), text, o)
					if err != nil {
						t.Fatal(err)
					}
					if want := tk.Encode(text, o); !slices.Equal(got, want) {
						t.Fatalf("%d bytes %+v: ids differ at %d", len(text), o, firstDiff(got, want))
					}
				}
			}
			if n := len(tk.chunks(long, 4096)); n < 10 {
				t.Fatalf("only %d chunks for %d bytes", n, len(long))
			}
			if par := counterValue(p.met.texts.WithLabelValues("parallel")); par == 0 {
				t.Log("no chunk ran on a worker (busy machine); exactness still checked")
			}
		})
	}
}

func TestFallbackOnError(t *testing.T) {
	tk := load(t, "cl100k_base")
	texts := manyTexts(t, 50)
	boom := errors.New("injected")
	for _, fallback := range []bool{true, false} {
		t.Run(fmt.Sprint("fallback=", fallback), func(t *testing.T) {
			cfg := DefaultParallelConfig()
			cfg.NumThreads, cfg.FallbackOnError = 2, fallback
			p, err := NewPool(tk, cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			p.failHook = func(string) error { return boom }
			done := make(chan error, 1)
			go func() { done <- p.Run(context.Background()) }()
			defer func() { p.Close(); <-done }()
			// Only workers run the hook, so make the caller fail too by
			// encoding through a worker for every item: run a batch until
			// at least one item went to a worker.
			for range 50 {
				got, err := p.EncodeBatch(context.Background(), texts, EncodeOptions{})
				if fallback {
					if err != nil {
						t.Fatal(err)
					}
					for i := range got {
						if !slices.Equal(got[i], tk.Encode(texts[i], EncodeOptions{})) {
							t.Fatalf("fallback result %d differs", i)
						}
					}
					if counterValue(p.met.texts.WithLabelValues("fallback")) > 0 {
						return
					}
					continue
				}
				if err != nil {
					if !errors.Is(err, ErrWorker) || !errors.Is(err, boom) {
						t.Fatalf("err %v, want ErrWorker wrapping the injected error", err)
					}
					return
				}
			}
			t.Fatal("no item ever reached a worker")
		})
	}
	// Async: the worker fails; with fallback the sequential encoder answers.
	for _, fallback := range []bool{true, false} {
		cfg := DefaultParallelConfig()
		cfg.NumThreads, cfg.FallbackOnError = 1, fallback
		p, err := NewPool(tk, cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		p.failHook = func(string) error { return boom }
		done := make(chan error, 1)
		go func() { done <- p.Run(context.Background()) }()
		r := <-p.EncodeAsync(context.Background(), "hello world", EncodeOptions{})
		p.Close()
		<-done
		if fallback && (r.Err != nil || !slices.Equal(r.IDs, []int32{15339, 1917})) {
			t.Fatalf("async fallback: %+v", r)
		}
		if !fallback && !errors.Is(r.Err, ErrWorker) {
			t.Fatalf("async without fallback: %+v", r)
		}
	}
}

func TestQueueFullAndClosed(t *testing.T) {
	tk := load(t, "cl100k_base")
	cfg := DefaultParallelConfig()
	cfg.NumThreads, cfg.ThreadPoolSize, cfg.FallbackOnError = 1, 1, false
	reg := prometheus.NewRegistry()
	p, err := NewPool(tk, cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	// Before Run: a batch is done by the caller, an async task waits.
	if got, err := p.EncodeBatch(context.Background(), []string{"a", "b"}, EncodeOptions{}); err != nil || len(got) != 2 {
		t.Fatalf("batch before Run: %v %v", got, err)
	}
	early := p.EncodeAsync(context.Background(), "hello", EncodeOptions{})
	entered, release := make(chan struct{}), make(chan struct{})
	p.failHook = func(text string) error {
		if text == "block" {
			entered <- struct{}{}
			<-release
		}
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	if r := <-early; r.Err != nil || !slices.Equal(r.IDs, []int32{15339}) {
		t.Fatalf("task queued before Run: %+v", r)
	}
	first := p.EncodeAsync(context.Background(), "block", EncodeOptions{})
	<-entered // the only worker is busy
	queued := p.EncodeAsync(context.Background(), "hello", EncodeOptions{})
	full := <-p.EncodeAsync(context.Background(), "third", EncodeOptions{})
	if !errors.Is(full.Err, ErrQueueFull) {
		t.Fatalf("third task: %+v, want ErrQueueFull", full)
	}
	// A batch never waits for queue space: the caller does the work.
	got, err := p.EncodeBatch(context.Background(), []string{"a b", "c d", "e"}, EncodeOptions{})
	if err != nil || len(got) != 3 || !slices.Equal(got[0], tk.Encode("a b", EncodeOptions{})) {
		t.Fatalf("batch with a full queue: %v %v", got, err)
	}
	if counterValue(p.met.rejected.WithLabelValues("async")) != 1 {
		t.Fatal("rejection not counted")
	}
	// Cancelled before a worker takes it: the Result is ctx.Err().
	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	if r := <-p.EncodeAsync(cctx, "x", EncodeOptions{}); !errors.Is(r.Err, context.Canceled) {
		t.Fatalf("cancelled: %+v", r)
	}
	if _, err := p.EncodeBatch(cctx, []string{"a", "b"}, EncodeOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled batch: %v", err)
	}
	close(release)
	if r := <-first; r.Err != nil {
		t.Fatal(r.Err)
	}
	if r := <-queued; r.Err != nil || !slices.Equal(r.IDs, []int32{15339}) {
		t.Fatalf("queued: %+v", r)
	}
	cancel() // Run ends with its context
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if r := <-p.EncodeAsync(context.Background(), "x", EncodeOptions{}); !errors.Is(r.Err, ErrClosed) {
		t.Fatalf("after Run: %+v", r)
	}
	p.Close() // idempotent
	idle, err := NewPool(tk, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	pending := idle.EncodeAsync(context.Background(), "x", EncodeOptions{})
	idle.Close() // never ran: queued work fails with ErrClosed
	if r := <-pending; !errors.Is(r.Err, ErrClosed) {
		t.Fatalf("queued on a pool closed before Run: %+v", r)
	}
	if err := p.Run(context.Background()); err != nil {
		t.Fatalf("Run on a closed pool: %v", err)
	}
}

func TestDisabledIsSequential(t *testing.T) {
	tk := load(t, testenv.SharedFile(t, "models/tok512.bin"))
	p, err := NewPool(tk, ParallelConfig{}, nil) // not Enabled, never Run
	if err != nil {
		t.Fatal(err)
	}
	texts := []string{"Once upon a time", "there was a cat"}
	got, err := p.EncodeBatch(context.Background(), texts, EncodeOptions{AddBOS: true})
	if err != nil || !slices.Equal(got[1], tk.Encode(texts[1], EncodeOptions{AddBOS: true})) {
		t.Fatalf("%v %v", got, err)
	}
	if r := <-p.EncodeAsync(context.Background(), texts[0], EncodeOptions{}); r.Err != nil || len(r.IDs) == 0 {
		t.Fatalf("%+v", r)
	}
	if ids, err := p.EncodeLong(context.Background(), texts[0], EncodeOptions{}); err != nil || !slices.Equal(ids, tk.Encode(texts[0], EncodeOptions{})) {
		t.Fatalf("%v %v", ids, err)
	}
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		cfg  ParallelConfig
		want error
	}{
		{"default", DefaultParallelConfig(), nil},
		{"zero", ParallelConfig{}, nil},
		{"negative threads", ParallelConfig{NumThreads: -1}, ErrInvalidConfig},
		{"too many threads", ParallelConfig{NumThreads: 5000}, ErrInvalidConfig},
		{"negative queue", ParallelConfig{ThreadPoolSize: -2}, ErrInvalidConfig},
		{"tiny chunks", ParallelConfig{ChunkBytes: 10}, ErrInvalidConfig},
		{"huge chunks", ParallelConfig{ChunkBytes: 1 << 30}, ErrInvalidConfig},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.cfg.Validate(); !errors.Is(err, c.want) {
				t.Fatalf("Validate() = %v, want %v", err, c.want)
			}
		})
	}
	if _, err := NewPool(nil, DefaultParallelConfig(), nil); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("nil tokenizer: %v", err)
	}
	tk := load(t, "cl100k_base")
	reg := prometheus.NewRegistry()
	if _, err := NewPool(tk, DefaultParallelConfig(), reg); err != nil {
		t.Fatal(err)
	}
	if _, err := NewPool(tk, DefaultParallelConfig(), reg); err == nil {
		t.Fatal("second pool on one registry: no error")
	}
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}
