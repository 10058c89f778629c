package jobs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/krserve/krserve/engined/sched"
	"github.com/krserve/krserve/schemas"
	"github.com/krserve/krserve/tokenizerd/tokenizer"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Headers set on dead letters, besides the job's own (Nats-Msg-Id stays).
const (
	HeaderDeadSubject    = "Krserve-Job-Subject"    // subject the job was queued on
	HeaderDeadDeliveries = "Krserve-Job-Deliveries" // deliveries before it was given up
	HeaderDeadCode       = "Krserve-Error-Code"     // schemas.Code of the last failure
	HeaderDeadError      = "Krserve-Error"          // message of the last failure
)

// run is one job held by this engine. A redelivery of the same job that
// arrives while it runs here (an InProgress got lost) is attached to it and
// answered with it, so the engine never runs one job twice at once.
type run struct {
	id     string
	msgs   []jetstream.Msg // guarded by Consumer.mu
	n      int             // highest NumDelivered among msgs
	closed bool            // answered; later deliveries start a new run
}

// delivery is the job message a handler goroutine owns.
type delivery struct {
	msg   jetstream.Msg
	n     int // NumDelivered of the newest attached delivery
	queue string
	run   *run // nil until the job id is known and claimed
}

// handle owns one fetched message until it is acknowledged one way or
// another, or abandoned for redelivery.
func (c *Consumer) handle(msg jetstream.Msg) {
	defer c.wg.Done()
	defer func() { <-c.slots }()
	c.m.inFlight.Inc()
	defer c.m.inFlight.Dec()
	md, err := msg.Metadata()
	if err != nil {
		c.log.Error("job message without JetStream metadata", "subject", msg.Subject(), "err", err)
		_ = msg.Term()
		return
	}
	if md.NumDelivered > 1 {
		c.m.redelivered.Inc()
	}
	d := &delivery{msg: msg, n: int(md.NumDelivered), queue: queueOf(c.cfg.Subjects, msg.Subject())}
	var job schemas.Job
	if err := schemas.Decode(msg.Data(), &job); err != nil {
		c.reject(d, msg.Headers().Get(jetstream.MsgIDHeader), schemas.NewError(schemas.CodeBadRequest, "job: %v", err))
		return
	}
	r, first := c.claim(job.ID, d)
	if !first {
		return // the run already holding this job answers this delivery too
	}
	defer c.unclaim(r)
	d.run = r

	// Exactly-once results: a stored result means an engine finished the job
	// (a redelivery after its ack was lost, or a resubmission).
	ctx, cancel := c.opCtx()
	_, err = getResult(ctx, c.kv, job.ID)
	cancel()
	switch {
	case err == nil:
		c.m.duplicates.Inc()
		c.ack(d)
		return
	case !errors.Is(err, ErrNoResult):
		c.retry(d, job.ID, schemas.NewError(schemas.CodeInternal, "results bucket: %v", err))
		return
	}
	c.execute(d, &job)
}

type outcome struct {
	res *sched.Result
	err *schemas.Error
}

// execute prepares the job, runs it on the engine, keeps the delivery alive
// with InProgress while it generates, and settles it.
func (c *Consumer) execute(d *delivery, job *schemas.Job) {
	req := job.Request
	req.V = schemas.Version
	if req.ID == "" {
		req.ID = job.ID
	}
	ereq, err := c.deps.Encoder.Prepare(&req)
	if err != nil {
		c.failOrRetry(d, job, schemas.AsError(err))
		return
	}
	ereq.JobID, ereq.Attempt, ereq.ReceivedUnixUs = job.ID, int32(d.n), c.deps.Now().UnixMicro()
	done := make(chan outcome, 1)
	err = c.deps.Engine.Submit(ereq, func(r *sched.Result, e *schemas.Error) {
		if r != nil { // r.IDs aliases the scheduler's buffer
			cp := *r
			cp.IDs = slices.Clone(r.IDs)
			r = &cp
		}
		done <- outcome{r, e}
	})
	if err != nil {
		c.failOrRetry(d, job, schemas.AsError(err))
		return
	}
	tick := time.NewTicker(max(c.ackWait/3, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case o := <-done:
			switch {
			case o.err != nil:
				c.failOrRetry(d, job, o.err)
			case o.res.Reason == schemas.FinishCanceled:
				c.fail(d, job, schemas.NewError(schemas.CodeCanceled, "job %s was cancelled", job.ID))
			default:
				c.settle(d, c.doneResult(d, job, o.res))
			}
			return
		case <-tick.C:
			c.inProgress(d)
		case <-c.abandon:
			c.log.Warn("job left unacknowledged for redelivery", "job", job.ID)
			return
		}
	}
}

func (c *Consumer) doneResult(d *delivery, job *schemas.Job, r *sched.Result) *schemas.JobResult {
	usage := r.Usage
	return &schemas.JobResult{V: schemas.Version, JobID: job.ID, Status: schemas.JobDone,
		Text: jobText(c.deps.Encoder.Tok, r.IDs, job.Request.Stop, r.Reason), IDs: r.IDs, FinishReason: r.Reason,
		Usage: &usage, Worker: c.cfg.WorkerID, Deliveries: int32(d.n), CompletedUnixMs: c.deps.Now().UnixMilli(), Metadata: job.Metadata}
}

// jobText decodes the generated ids; a stop string and what follows it are
// cut, as the engine does for streams.
func jobText(tok *tokenizer.Tokenizer, ids []int32, stops []string, reason schemas.FinishReason) string {
	text := tok.Decode(ids)
	if reason != schemas.FinishStop {
		return text
	}
	cut := -1
	for _, s := range stops {
		if i := strings.Index(text, s); i >= 0 && (cut < 0 || i < cut) {
			cut = i
		}
	}
	if cut >= 0 {
		text = text[:cut]
	}
	return text
}

func (c *Consumer) failedResult(d *delivery, id string, job *schemas.Job, e *schemas.Error) *schemas.JobResult {
	e = schemas.AsError(e)
	e.RequestID = id
	res := &schemas.JobResult{V: schemas.Version, JobID: id, Status: schemas.JobFailed, Error: e, Worker: c.cfg.WorkerID,
		Deliveries: int32(d.n), CompletedUnixMs: c.deps.Now().UnixMilli()}
	if job != nil {
		res.Metadata = job.Metadata
	}
	return res
}

// permanent reports whether a failure says the job itself is wrong (or was
// withdrawn), so running it again cannot succeed. Everything else (engine
// overloaded or stopping, internal failure, a model this engine does not
// serve) is retried, elsewhere if possible, until MaxDeliver.
func permanent(code schemas.Code) bool {
	switch code {
	case schemas.CodeBadRequest, schemas.CodeTooLarge, schemas.CodeTimeout, schemas.CodeCanceled, schemas.CodeUnauthorized:
		return true
	}
	return false
}

func (c *Consumer) failOrRetry(d *delivery, job *schemas.Job, e *schemas.Error) {
	if permanent(e.Code) {
		c.fail(d, job, e)
		return
	}
	c.retry(d, job.ID, e)
}

// fail stores a failed result for a job that cannot succeed, then acks.
func (c *Consumer) fail(d *delivery, job *schemas.Job, e *schemas.Error) {
	c.settle(d, c.failedResult(d, job.ID, job, e))
}

// reject settles a message that is not a valid Job: with a usable id in its
// Nats-Msg-Id header it gets a failed result under that id, else it goes to
// the dead-letter stream (no result can be keyed).
func (c *Consumer) reject(d *delivery, id string, e *schemas.Error) {
	if id == "" || validJobID(id) != nil {
		c.deadLetter(d, "", nil, e)
		return
	}
	r, first := c.claim(id, d)
	if !first {
		return
	}
	defer c.unclaim(r)
	d.run = r
	c.settle(d, c.failedResult(d, id, nil, e))
}

// deliveries is the highest delivery count of the job's attached messages.
func (c *Consumer) deliveries(d *delivery) int {
	if d.run == nil {
		return d.n
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return d.run.n
}

// retry asks for a later redelivery, or dead-letters the job on its last.
func (c *Consumer) retry(d *delivery, id string, e *schemas.Error) {
	d.n = c.deliveries(d)
	if c.maxDeliver > 0 && d.n >= c.maxDeliver {
		c.deadLetter(d, id, nil, e)
		return
	}
	c.m.retried.WithLabelValues(e.Code.String()).Inc()
	c.log.Info("job retry", "job", id, "delivery", d.n, "err", e)
	c.nak(d, c.backoff(d.n))
}

func (c *Consumer) backoff(n int) time.Duration {
	delay := c.cfg.RetryDelay
	for i := 1; i < n && delay < c.cfg.MaxRetryDelay; i++ {
		delay *= 2
	}
	return min(delay, c.cfg.MaxRetryDelay)
}

type storeOutcome int

const (
	stored storeOutcome = iota
	existed
	storeFailed
)

// store writes res under its job id unless a result is there already. The
// Create is revision-guarded on the server, so of two engines racing on a
// redelivered job exactly one stores.
func (c *Consumer) store(res *schemas.JobResult) (storeOutcome, error) {
	b, err := schemas.Encode(res)
	if err != nil {
		return storeFailed, err
	}
	ctx, cancel := c.opCtx()
	defer cancel()
	if _, err := c.kv.Create(ctx, ResultKey(res.JobID), b); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return existed, nil
		}
		return storeFailed, err
	}
	return stored, nil
}

// settle stores a final result and only then acknowledges the job.
func (c *Consumer) settle(d *delivery, res *schemas.JobResult) {
	st, err := c.store(res)
	switch st {
	case stored:
		if res.Status == schemas.JobDone {
			c.m.completed.Inc()
		} else {
			c.m.failed.WithLabelValues(res.Error.Code.String()).Inc()
		}
		c.ack(d)
	case existed:
		c.m.duplicates.Inc()
		c.ack(d)
	default:
		// Not acknowledged: the job comes back and is settled then.
		c.log.Warn("store job result", "job", res.JobID, "err", err)
		c.nak(d, c.backoff(d.n))
	}
}

// deadLetter stores a failed result (when the id is known), copies the
// message to the dead-letter stream and terminates it.
func (c *Consumer) deadLetter(d *delivery, id string, job *schemas.Job, e *schemas.Error) {
	e = schemas.NewError(e.Code, "given up after %d deliveries: %s", d.n, e.Message)
	recorded := false
	if id != "" {
		res := c.failedResult(d, id, job, e)
		st, err := c.store(res)
		switch st {
		case existed: // another engine finished it after all
			c.m.duplicates.Inc()
			c.ack(d)
			return
		case stored:
			recorded = true
			c.m.failed.WithLabelValues(e.Code.String()).Inc()
		default:
			c.log.Error("store dead job result", "job", id, "err", err)
		}
	}
	if err := c.publishDead(d, e); err != nil {
		c.log.Error("publish dead letter", "job", id, "err", err)
		if !recorded {
			c.nak(d, c.backoff(d.n)) // nothing recorded it anywhere: keep the message
			return
		}
	} else {
		c.m.deadLettered.Inc()
	}
	for _, m := range c.take(d) {
		if err := m.Term(); err != nil {
			c.log.Warn("term job", "job", id, "err", err)
		}
	}
}

func (c *Consumer) publishDead(d *delivery, e *schemas.Error) error {
	q := d.queue
	if q == "" {
		q = "unknown"
	}
	h := nats.Header{}
	for k, v := range d.msg.Headers() {
		h[k] = slices.Clone(v)
	}
	h.Set(HeaderDeadSubject, d.msg.Subject())
	h.Set(HeaderDeadDeliveries, strconv.Itoa(d.n))
	h.Set(HeaderDeadCode, strconv.Itoa(int(e.Code)))
	h.Set(HeaderDeadError, e.Message)
	ctx, cancel := c.opCtx()
	defer cancel()
	_, err := c.deps.JS.PublishMsg(ctx, &nats.Msg{Subject: c.cfg.Subjects.DeadJobs(q), Data: d.msg.Data(), Header: h})
	if err != nil {
		return fmt.Errorf("jobs: dead letter: %w", err)
	}
	return nil
}

func (c *Consumer) opCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), c.cfg.OpTimeout)
}

// claim registers the local run of job id. It returns false when a run of
// the job is already active here; msg is then answered by that run.
func (c *Consumer) claim(id string, d *delivery) (*run, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r, ok := c.running[id]; ok && !r.closed {
		r.msgs = append(r.msgs, d.msg)
		r.n = max(r.n, d.n)
		return r, false
	}
	r := &run{id: id, msgs: []jetstream.Msg{d.msg}, n: d.n}
	c.running[id] = r
	return r, true
}

func (c *Consumer) unclaim(r *run) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r.closed = true
	if c.running[r.id] == r {
		delete(c.running, r.id)
	}
}

// take closes the delivery's run and returns every message to answer.
func (c *Consumer) take(d *delivery) []jetstream.Msg {
	if d.run == nil {
		return []jetstream.Msg{d.msg}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	d.run.closed = true
	return d.run.msgs
}

func (c *Consumer) ack(d *delivery) {
	for _, m := range c.take(d) {
		if err := m.Ack(); err != nil {
			c.log.Warn("ack job", "subject", m.Subject(), "err", err)
		}
	}
}

func (c *Consumer) nak(d *delivery, delay time.Duration) {
	for _, m := range c.take(d) {
		if err := m.NakWithDelay(delay); err != nil {
			c.log.Warn("nak job", "subject", m.Subject(), "err", err)
		}
	}
}

func (c *Consumer) inProgress(d *delivery) {
	c.mu.Lock()
	msgs := slices.Clone(d.run.msgs)
	c.mu.Unlock()
	for _, m := range msgs {
		if err := m.InProgress(); err != nil {
			c.log.Debug("in progress", "subject", m.Subject(), "err", err)
		}
	}
}
