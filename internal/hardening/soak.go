package hardening

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/krserve/krserve/bus/client"
	"github.com/krserve/krserve/engined/jobs"
	"github.com/krserve/krserve/internal/stack"
	"github.com/krserve/krserve/schemas"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrSoakFailed means the soak finished but did not pass: requests failed,
// jobs were lost, or memory grew past the limit. The report says which.
var ErrSoakFailed = errors.New("hardening: soak failed")

// SoakConfig shapes a soak run.
type SoakConfig struct {
	Duration time.Duration // total load time (required, ≥ 1s)
	// Warmup is excluded from the memory comparison. Default Duration/4.
	// It must cover the time the KV prefix caches take to fill: a KV
	// arena's pages become resident as its blocks are first used, which is
	// growth but not a leak.
	Warmup time.Duration
	// Interval between samples. Default Duration/12.
	Interval time.Duration
	// Prompts and Chats are the closed loops of single prompts and of
	// multi-turn conversations (ChatTurns turns each, then a new one).
	// Defaults 2, 2, 4.
	Prompts, Chats, ChatTurns int
	// JobEvery submits one batch job per period; 0 = no jobs.
	JobEvery  time.Duration
	MaxTokens int32 // per request; default 24
	// MaxGrowth is the allowed resident memory growth after warm-up, as a
	// fraction. Default 0.05.
	MaxGrowth float64
}

// Validate fills defaults and checks ranges.
func (c *SoakConfig) Validate() error {
	if c.Duration < time.Second {
		return fmt.Errorf("hardening: soak duration %v is shorter than 1s", c.Duration)
	}
	if c.Warmup == 0 {
		c.Warmup = c.Duration / 4
	}
	if c.Interval == 0 {
		c.Interval = c.Duration / 12
	}
	if c.Prompts == 0 && c.Chats == 0 {
		c.Prompts, c.Chats = 2, 2
	}
	if c.ChatTurns == 0 {
		c.ChatTurns = 4
	}
	if c.MaxTokens == 0 {
		c.MaxTokens = 24
	}
	if c.MaxGrowth == 0 {
		c.MaxGrowth = 0.05
	}
	switch {
	case c.Warmup < 0 || c.Warmup >= c.Duration:
		return fmt.Errorf("hardening: warm-up %v must be in [0, duration %v)", c.Warmup, c.Duration)
	case c.Interval < 10*time.Millisecond || c.Interval > c.Duration:
		return fmt.Errorf("hardening: sample interval %v must be in [10ms, duration]", c.Interval)
	case c.Prompts < 0 || c.Chats < 0 || c.ChatTurns < 1:
		return errors.New("hardening: negative loop counts or chat turns < 1")
	case c.JobEvery < 0 || c.MaxTokens < 1 || c.MaxGrowth <= 0:
		return errors.New("hardening: job period, max tokens and growth limit must be positive")
	}
	return nil
}

// SoakDeps are what a soak drives and watches.
type SoakDeps struct {
	Client *client.Client      // producer on the stack's NATS
	Stack  *stack.Stack        // engines to read KV pool use from (may be nil)
	JS     jetstream.JetStream // for jobs; required when JobEvery > 0
	Now    func() time.Time    // time.Now when nil
}

// Sample is the state at one point of the run. Latencies are of the
// requests finished since the previous sample.
type Sample struct {
	ElapsedS   float64 `json:"elapsed_s"`
	RSSKiB     int64   `json:"rss_kib"`
	HeapKiB    uint64  `json:"heap_kib"`
	Goroutines int     `json:"goroutines"`
	KVBlocks   int     `json:"kv_blocks_in_use"` // referenced by live sequences
	KVCached   int     `json:"kv_blocks_cached"` // unreferenced prefix cache (evictable)
	Requests   int64   `json:"requests"`
	Errors     int64   `json:"errors"`
	P50Ms      float64 `json:"p50_ms"`
	P99Ms      float64 `json:"p99_ms"`
}

// SoakReport is the outcome of a soak run.
type SoakReport struct {
	Samples    []Sample `json:"samples"`
	Requests   int64    `json:"requests"`
	Errors     int64    `json:"errors"`
	FirstError string   `json:"first_error,omitempty"`
	Jobs       int      `json:"jobs"`
	JobsDone   int      `json:"jobs_done"`
	// RSSGrowth compares the lowest resident memory of the last third of
	// the post-warm-up samples with that of the first third.
	RSSGrowth float64 `json:"rss_growth"`
	Pass      bool    `json:"pass"`
	Reason    string  `json:"reason,omitempty"`
}

var soakPrompts = []string{
	"Once upon a time", "Lily and Tom went to the park.", "The little dog was happy because",
	"One day, a girl named Sue found a big box.", "Tim liked to play with his red ball.",
}

// Soak drives the load for cfg.Duration, sampling every cfg.Interval, and
// reports. It returns ErrSoakFailed (with the report) when the run did not
// pass, and other errors when it could not run.
func Soak(ctx context.Context, cfg SoakConfig, deps SoakDeps) (*SoakReport, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Client == nil || (cfg.JobEvery > 0 && deps.JS == nil) {
		return nil, errors.New("hardening: soak needs a client (and JetStream for jobs)")
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	l := &soakLoad{cl: deps.Client, cfg: cfg}
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i := 0; i < cfg.Prompts; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); l.promptLoop(runCtx, i) }()
	}
	for i := 0; i < cfg.Chats; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); l.chatLoop(runCtx, i) }()
	}
	var jobIDs []string
	if cfg.JobEvery > 0 {
		wg.Add(1)
		go func() { defer wg.Done(); jobIDs = l.jobLoop(runCtx, deps.JS) }()
	}
	rep := &SoakReport{}
	start := deps.Now()
	tick := time.NewTicker(cfg.Interval)
	end := time.NewTimer(cfg.Duration)
	sample := func() {
		rep.Samples = append(rep.Samples, l.sample(deps, deps.Now().Sub(start)))
	}
loop:
	for {
		select {
		case <-tick.C:
			sample()
		case <-end.C:
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	tick.Stop()
	end.Stop()
	stop()
	wg.Wait()
	sample()
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	rep.Requests, rep.Errors = l.ok.Load()+l.failed.Load(), l.failed.Load()
	if e := l.firstErr.Load(); e != nil {
		rep.FirstError = e.(string)
	}
	rep.Jobs = len(jobIDs)
	if len(jobIDs) > 0 {
		rep.JobsDone = waitJobs(ctx, deps.JS, jobIDs, 60*time.Second)
	}
	rep.RSSGrowth = growth(rep.Samples, cfg.Warmup.Seconds())
	switch {
	case rep.Errors > 0:
		rep.Reason = fmt.Sprintf("%d of %d requests failed (first: %s)", rep.Errors, rep.Requests, rep.FirstError)
	case rep.Requests == 0:
		rep.Reason = "no request completed"
	case rep.JobsDone != rep.Jobs:
		rep.Reason = fmt.Sprintf("%d of %d jobs have a done result", rep.JobsDone, rep.Jobs)
	case rep.RSSGrowth > cfg.MaxGrowth:
		rep.Reason = fmt.Sprintf("resident memory grew %.1f %% after warm-up (limit %.1f %%)", 100*rep.RSSGrowth, 100*cfg.MaxGrowth)
	default:
		rep.Pass = true
	}
	if !rep.Pass {
		return rep, fmt.Errorf("%w: %s", ErrSoakFailed, rep.Reason)
	}
	return rep, nil
}

// soakLoad is the shared state of the load loops.
type soakLoad struct {
	cl         *client.Client
	cfg        SoakConfig
	ok, failed atomic.Int64
	firstErr   atomic.Value // string
	mu         sync.Mutex
	lat        []float64 // ms, since the last sample
}

func (l *soakLoad) record(start time.Time, err error) {
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return // the run ended mid-request
		}
		l.failed.Add(1)
		l.firstErr.CompareAndSwap(nil, err.Error())
		return
	}
	l.ok.Add(1)
	l.mu.Lock()
	l.lat = append(l.lat, float64(time.Since(start).Microseconds())/1000)
	l.mu.Unlock()
}

func (l *soakLoad) promptLoop(ctx context.Context, g int) {
	for i := 0; ctx.Err() == nil; i++ {
		start := time.Now()
		_, err := l.cl.Complete(ctx, &schemas.GenerateRequest{Prompt: soakPrompts[(g+i)%len(soakPrompts)], MaxTokens: l.cfg.MaxTokens,
			Sampling: schemas.Sampling{Temperature: 0.8, TopP: 0.95, Seed: uint64(i + 1)}})
		l.record(start, err)
	}
}

func (l *soakLoad) chatLoop(ctx context.Context, g int) {
	for conv := 0; ctx.Err() == nil; conv++ {
		id := fmt.Sprintf("soak-%d-%d", g, conv)
		msgs := []schemas.ChatMessage{{Role: "user", Content: soakPrompts[(g+conv)%len(soakPrompts)]}}
		for turn := 0; turn < l.cfg.ChatTurns && ctx.Err() == nil; turn++ {
			start := time.Now()
			got, err := l.cl.Complete(ctx, &schemas.GenerateRequest{Messages: msgs, ConversationID: id, MaxTokens: l.cfg.MaxTokens})
			l.record(start, err)
			if err != nil {
				break
			}
			msgs = append(msgs, schemas.ChatMessage{Role: "assistant", Content: got.Text}, schemas.ChatMessage{Role: "user", Content: "And then?"})
		}
	}
}

func (l *soakLoad) jobLoop(ctx context.Context, js jetstream.JetStream) []string {
	var ids []string
	t := time.NewTicker(l.cfg.JobEvery)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return ids
		case <-t.C:
		}
		id := fmt.Sprintf("soak-job-%d-%d", time.Now().UnixNano(), i)
		job := &schemas.Job{ID: id, Request: schemas.GenerateRequest{V: schemas.Version, Prompt: soakPrompts[i%len(soakPrompts)], MaxTokens: l.cfg.MaxTokens}}
		if _, err := jobs.Submit(ctx, js, jobs.DefaultQueue, job); err != nil {
			if ctx.Err() == nil {
				l.failed.Add(1)
				l.firstErr.CompareAndSwap(nil, "submit job: "+err.Error())
			}
			continue
		}
		ids = append(ids, id)
	}
}

// waitJobs polls until every job has a done result or d passes and
// returns how many have one.
func waitJobs(ctx context.Context, js jetstream.JetStream, ids []string, d time.Duration) int {
	deadline := time.Now().Add(d)
	done := map[string]bool{}
	for {
		for _, id := range ids {
			if done[id] {
				continue
			}
			r, err := jobs.Result(ctx, js, id)
			if err == nil && r.Status == schemas.JobDone {
				done[id] = true
			}
		}
		if len(done) == len(ids) || time.Now().After(deadline) || ctx.Err() != nil {
			return len(done)
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (l *soakLoad) sample(deps SoakDeps, elapsed time.Duration) Sample {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := Sample{ElapsedS: elapsed.Seconds(), RSSKiB: RSSKiB(), HeapKiB: ms.HeapInuse >> 10, Goroutines: runtime.NumGoroutine(),
		Requests: l.ok.Load() + l.failed.Load(), Errors: l.failed.Load()}
	if deps.Stack != nil {
		for _, e := range deps.Stack.EngineCore {
			ps := e.Pool.Stats()
			s.KVBlocks += ps.UsedBlocks
			s.KVCached += ps.CachedBlocks
		}
	}
	l.mu.Lock()
	lat := l.lat
	l.lat = nil
	l.mu.Unlock()
	if len(lat) > 0 {
		slices.Sort(lat)
		s.P50Ms = lat[(len(lat)-1)*50/100]
		s.P99Ms = lat[(len(lat)-1)*99/100]
	}
	return s
}

// growth compares the lowest RSS of the last third of the samples after
// warm-up with the lowest of the first third (lows, not means: a sample
// taken just before a collection sees garbage that is not a leak).
func growth(samples []Sample, warmupS float64) float64 {
	var after []Sample
	for _, s := range samples {
		if s.ElapsedS >= warmupS && s.RSSKiB > 0 {
			after = append(after, s)
		}
	}
	if len(after) < 3 {
		return 0
	}
	k := len(after) / 3
	low := func(ss []Sample) int64 {
		m := ss[0].RSSKiB
		for _, s := range ss {
			m = min(m, s.RSSKiB)
		}
		return m
	}
	first, last := low(after[:k]), low(after[len(after)-k:])
	return float64(last-first) / float64(first)
}

// RSSKiB reads the resident set size of this process from
// /proc/self/status (VmRSS), or 0 where that file does not exist.
func RSSKiB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := bytes.CutPrefix([]byte(line), []byte("VmRSS:")); ok {
			f := bytes.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(string(f[0]), 10, 64)
				return n
			}
		}
	}
	return 0
}

// WriteTable prints the samples and the verdict.
func (r *SoakReport) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "%8s %10s %10s %6s %6s %7s %9s %7s %9s %9s\n", "t (s)", "rss MiB", "heap MiB", "gor", "kv", "cached", "requests", "errors", "p50 ms", "p99 ms")
	for _, s := range r.Samples {
		fmt.Fprintf(w, "%8.1f %10.1f %10.1f %6d %6d %7d %9d %7d %9.1f %9.1f\n", s.ElapsedS, float64(s.RSSKiB)/1024, float64(s.HeapKiB)/1024,
			s.Goroutines, s.KVBlocks, s.KVCached, s.Requests, s.Errors, s.P50Ms, s.P99Ms)
	}
	verdict := "PASS"
	if !r.Pass {
		verdict = "FAIL: " + r.Reason
	}
	fmt.Fprintf(w, "requests %d, errors %d, jobs %d/%d done, rss growth after warm-up %+.2f %%: %s\n",
		r.Requests, r.Errors, r.JobsDone, r.Jobs, 100*r.RSSGrowth, verdict)
}
