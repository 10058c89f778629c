package hardening_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/krserve/krserve/bus"
	"github.com/krserve/krserve/bus/client"
	"github.com/krserve/krserve/engined/jobs"
	"github.com/krserve/krserve/internal/testenv"
	"github.com/krserve/krserve/schemas"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// resultWrites counts the writes to the results bucket per job id, as seen
// on the bucket's subjects from before the first job.
type resultWrites struct {
	mu sync.Mutex
	n  map[string]int
}

func watchResults(tb testing.TB, nc *nats.Conn) *resultWrites {
	tb.Helper()
	rw := &resultWrites{n: map[string]int{}}
	const prefix = "$KV.krserve_results."
	sub, err := nc.Subscribe(prefix+">", func(m *nats.Msg) {
		rw.mu.Lock()
		rw.n[strings.ReplaceAll(strings.TrimPrefix(m.Subject, prefix), "/", ":")]++
		rw.mu.Unlock()
	})
	if err != nil {
		tb.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = sub.Unsubscribe() })
	return rw
}

func (rw *resultWrites) count(id string) int {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	return rw.n[id]
}

// TestEngineKilledUnderLoad kills one of two engine processes with SIGKILL
// while interactive requests stream and batch jobs run. Interactive
// requests either complete (routed or retried elsewhere) or fail with a
// typed retryable error within the idle timeout; every batch job has
// exactly one result, written once, after redelivery to the survivor.
func TestEngineKilledUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	srv := tcpNATS(t)
	url := srv.ClientURL()
	nc := testenv.Conn(t, srv)
	hb := watchHeartbeats(t, nc)
	writes := watchResults(t, nc)
	victim := startWorker(t, url, "engine", "engine-a")
	survivor := startWorker(t, url, "engine", "engine-b")
	tok := startWorker(t, url, "tokenizer", "tok-a")
	for _, p := range []*proc{victim, survivor, tok} {
		hb.waitReady(t, p)
	}
	const idle = 2 * time.Second
	cl := client.New(testenv.Conn(t, srv), client.Options{IdleTimeout: idle})
	if err := completeFn(cl, 4)(t.Context(), 0, 0); err != nil {
		t.Fatalf("first request: %v", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	type failure struct {
		err     error
		at      time.Time
		started time.Time
	}
	var fmu sync.Mutex
	var failures []failure
	l := startLoad(4, func(ctx context.Context, g, i int) error {
		started := time.Now()
		err := completeFn(cl, 64)(ctx, g, i)
		if err != nil {
			fmu.Lock()
			failures = append(failures, failure{err, time.Now(), started})
			fmu.Unlock()
		}
		return err
	})
	// Jobs submitted before and after the kill.
	const nJobs = 40
	submit := func(from, to int) {
		for i := from; i < to; i++ {
			job := &schemas.Job{ID: fmt.Sprintf("job-%d", i), Request: schemas.GenerateRequest{V: 1, Prompt: fmt.Sprintf("Tim had a red ball %d.", i), MaxTokens: 160}}
			if _, err := jobs.Submit(t.Context(), js, jobs.DefaultQueue, job); err != nil {
				t.Fatalf("submit %s: %v", job.ID, err)
			}
		}
	}
	// Interactive load first, then a backlog of jobs bigger than both
	// engines' job slots (4 each), so the kill finds jobs in flight.
	l.waitProgress(t, 10, 60*time.Second)
	submit(0, nJobs/2)
	// Kill while the victim holds jobs: each engine holds at most 4, so 6
	// unacknowledged deliveries mean the victim has at least 2.
	cons, err := js.Consumer(t.Context(), bus.JobsStream, jobs.ConsumerName)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "both engines to hold jobs", func() bool {
		info, err := cons.Info(t.Context())
		return err == nil && info.NumAckPending >= 6
	})
	killedAt := time.Now()
	victim.kill()
	submit(nJobs/2, nJobs)
	l.waitProgress(t, 30, 60*time.Second)
	l.finish()

	fmu.Lock()
	defer fmu.Unlock()
	t.Logf("interactive: %d completed, %d failed", l.ok.Load(), len(failures))
	for _, f := range failures {
		var e *schemas.Error
		switch {
		case !errors.As(f.err, &e) || !e.Retryable:
			t.Errorf("untyped or permanent error: %v", f.err)
		case e.Code != schemas.CodeWorkerLost && e.Code != schemas.CodeTimeout && e.Code != schemas.CodeNoWorker:
			t.Errorf("unexpected code %v", e)
		}
		if f.started.After(killedAt.Add(idle)) {
			t.Errorf("a request started %v after the kill failed: %v", f.started.Sub(killedAt), f.err)
		}
		if d := f.at.Sub(killedAt); d > idle+3*time.Second {
			t.Errorf("request failed %v after the kill (idle timeout %v): %v", d, idle, f.err)
		}
	}

	// Every job: one result, done, written once.
	waitFor(t, 60*time.Second, "every job's result", func() bool {
		for i := 0; i < nJobs; i++ {
			if writes.count(fmt.Sprintf("job-%d", i)) == 0 {
				return false
			}
		}
		return true
	})
	results, err := jobs.Results(t.Context(), js, 0)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]*schemas.JobResult{}
	for _, r := range results {
		if byID[r.JobID] != nil {
			t.Errorf("job %s has two results", r.JobID)
		}
		byID[r.JobID] = r
	}
	redelivered := 0
	for i := 0; i < nJobs; i++ {
		id := fmt.Sprintf("job-%d", i)
		r := byID[id]
		switch {
		case r == nil:
			t.Errorf("%s: no result", id)
			continue
		case r.Status != schemas.JobDone:
			t.Errorf("%s: status %s (%v)", id, r.Status, r.Error)
		case r.Usage == nil || r.Usage.GeneratedTokens == 0:
			t.Errorf("%s: no tokens", id)
		}
		if n := writes.count(id); n != 1 {
			t.Errorf("%s: result written %d times", id, n)
		}
		if r.Deliveries > 1 {
			redelivered++
		}
	}
	if len(byID) != nJobs {
		t.Errorf("%d results for %d jobs", len(byID), nJobs)
	}
	t.Logf("jobs: %d results, %d delivered more than once", len(byID), redelivered)
	if redelivered == 0 {
		t.Error("no job was redelivered: the kill did not hit an engine holding jobs")
	}
	if err := survivor.stop(t, 40*time.Second); err != nil {
		t.Errorf("survivor: %v\n%s", err, survivor.log())
	}
	if err := tok.stop(t, 40*time.Second); err != nil {
		t.Errorf("tokenizer: %v", err)
	}
}
