package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/krserve/krserve/schemas"
	"github.com/nats-io/nats.go"
)

// StreamWriter publishes one request's token stream: token chunks, then one
// final or error message, with sequence numbers from 0. It is owned by the
// goroutine generating the request.
type StreamWriter struct {
	nc      *nats.Conn
	subject string
	id      string
	seq     uint64
	ended   bool
	reply   string
	msg     schemas.StreamMsg
}

// NewStreamWriter returns a writer publishing on subject for requestID.
func NewStreamWriter(nc *nats.Conn, subject, requestID string) *StreamWriter {
	return &StreamWriter{nc: nc, subject: subject, id: requestID}
}

// Seq is the sequence number the next message will carry.
func (w *StreamWriter) Seq() uint64 { return w.seq }

// Ended reports whether a final or error message was sent.
func (w *StreamWriter) Ended() bool { return w.ended }

// Token publishes a chunk of generated ids and their text delta.
func (w *StreamWriter) Token(ids []int32, text string) error {
	w.msg = schemas.StreamMsg{V: schemas.Version, Kind: schemas.KindToken, RequestID: w.id, IDs: ids, Text: text}
	return w.publish()
}

// Final publishes the final message and ends the stream.
func (w *StreamWriter) Final(reason schemas.FinishReason, usage schemas.Usage, timings schemas.Timings, worker, variant string) error {
	w.msg = schemas.StreamMsg{V: schemas.Version, Kind: schemas.KindFinal, RequestID: w.id, FinishReason: reason,
		Usage: &usage, Timings: &timings, Worker: worker, Variant: variant}
	return w.publish()
}

// Error publishes a typed error and ends the stream.
func (w *StreamWriter) Error(e *schemas.Error) error {
	out := *e
	out.V = schemas.Version
	out.RequestID = w.id
	w.msg = schemas.StreamMsg{V: schemas.Version, Kind: schemas.KindError, RequestID: w.id, Error: &out}
	return w.publish()
}

func (w *StreamWriter) publish() error {
	if w.ended {
		return ErrClosed
	}
	w.msg.Seq = w.seq
	b, err := schemas.Encode(&w.msg)
	if err != nil {
		return err
	}
	var err2 error
	if w.reply != "" {
		err2 = w.nc.PublishRequest(w.subject, w.reply, b)
	} else {
		err2 = w.nc.Publish(w.subject, b)
	}
	if err := err2; err != nil {
		return MapRequestError(w.subject, err)
	}
	w.seq++
	w.ended = w.msg.Terminal()
	return nil
}

// StreamReader consumes one token stream from a subscription made before
// the request was sent (so no message can be missed).
type StreamReader struct {
	sub     *nats.Subscription
	idle    time.Duration
	next    uint64
	done    bool
	metrics *Metrics
}

// DefaultIdleTimeout is how long a reader waits for the next stream message.
const DefaultIdleTimeout = 30 * time.Second

// SubscribeStream subscribes to subject and returns a reader. idle <= 0
// uses DefaultIdleTimeout. Close the reader when done.
func SubscribeStream(nc *nats.Conn, subject string, idle time.Duration, m *Metrics) (*StreamReader, error) {
	sub, err := nc.SubscribeSync(subject)
	if err != nil {
		return nil, fmt.Errorf("bus: subscribe %s: %w", subject, err)
	}
	// A generous message bound: a stream is consumed as it arrives, and a
	// consumer that falls this far behind learns it through ErrSlowConsumer.
	if err := sub.SetPendingLimits(1<<16, 64<<20); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("bus: pending limits: %w", err)
	}
	if idle <= 0 {
		idle = DefaultIdleTimeout
	}
	return &StreamReader{sub: sub, idle: idle, metrics: m}, nil
}

// Subject is the subscribed subject (use it as the reply or token subject).
func (r *StreamReader) Subject() string { return r.sub.Subject }

// Next returns the next stream message in order. It fails with ErrIdle when
// nothing arrives within the idle timeout, ErrGap when a sequence number is
// skipped, ErrSlowConsumer when the client dropped messages, a typed
// CodeNoWorker error when the request had no responder, and ErrClosed after
// the terminal message. An error message of the stream is returned as a
// message (Kind == KindError), not as an error.
func (r *StreamReader) Next(ctx context.Context) (*schemas.StreamMsg, error) {
	if r.done {
		return nil, ErrClosed
	}
	wait, cancel := context.WithTimeout(ctx, r.idle)
	msg, err := r.sub.NextMsgWithContext(wait)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, context.DeadlineExceeded) {
			r.metrics.idle()
			return nil, fmt.Errorf("%w: nothing for %v after seq %d on %s", ErrIdle, r.idle, r.next, r.sub.Subject)
		}
		if errors.Is(err, nats.ErrNoResponders) {
			r.done = true
			r.metrics.noResponders()
			return nil, fmt.Errorf("%w: %w", schemas.NewError(schemas.CodeNoWorker, "no worker subscribes to the request subject"), err)
		}
		if errors.Is(err, nats.ErrSlowConsumer) {
			r.metrics.slowConsumer()
			return nil, fmt.Errorf("%w: %w", ErrSlowConsumer, err)
		}
		return nil, fmt.Errorf("bus: stream %s: %w", r.sub.Subject, err)
	}
	if d, _ := r.sub.Dropped(); d > 0 {
		r.done = true
		return nil, fmt.Errorf("%w: %d messages on %s", ErrSlowConsumer, d, r.sub.Subject)
	}
	if len(msg.Data) == 0 && msg.Header.Get("Status") == "503" {
		r.done = true
		r.metrics.noResponders()
		return nil, schemas.NewError(schemas.CodeNoWorker, "no worker subscribes to the request subject")
	}
	if err := ServiceError(msg); err != nil {
		r.done = true
		return nil, err
	}
	var sm schemas.StreamMsg
	if err := schemas.Decode(msg.Data, &sm); err != nil {
		r.done = true
		return nil, fmt.Errorf("bus: stream %s: %w", r.sub.Subject, err)
	}
	if sm.Seq != r.next {
		r.done = true
		r.metrics.gap()
		return nil, fmt.Errorf("%w: got seq %d, want %d on %s", ErrGap, sm.Seq, r.next, r.sub.Subject)
	}
	r.next++
	if sm.Terminal() {
		r.done = true
	}
	return &sm, nil
}

// Close unsubscribes.
func (r *StreamReader) Close() error {
	if err := r.sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) && !errors.Is(err, nats.ErrBadSubscription) {
		return fmt.Errorf("bus: unsubscribe: %w", err)
	}
	return nil
}

// SetReply makes every stream message carry reply as its reply subject. A
// producer publishing with a reply subject learns through NATS "no
// responders" (status 503 on reply) that nobody subscribes to the stream any
// more, i.e. the consumer went away.
func (w *StreamWriter) SetReply(reply string) { w.reply = reply }
