package client

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/krserve/krserve/bus"
	"github.com/krserve/krserve/schemas"
	"github.com/nats-io/nats.go"
)

// Options tune a Client.
type Options struct {
	Subjects    bus.Subjects
	IdleTimeout time.Duration // max silence between stream messages (default 60s)
	Metrics     *bus.Metrics
}

// Client sends requests on a shared connection. Safe for concurrent use.
type Client struct {
	nc   *nats.Conn
	opts Options
}

// New returns a client on nc.
func New(nc *nats.Conn, opts Options) *Client {
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 60 * time.Second
	}
	return &Client{nc: nc, opts: opts}
}

// Stream is one request's token stream.
type Stream struct {
	ID    string
	c     *Client
	r     *bus.StreamReader
	final *schemas.StreamMsg
	seen  int // stream messages received
}

// Generate sends req and returns its stream. An empty req.ID is filled with
// a new UUID so the caller can cancel or correlate. Failures arrive from
// Next as typed errors (*schemas.Error): no worker, overloaded, bad request…
func (c *Client) Generate(ctx context.Context, req *schemas.GenerateRequest) (*Stream, error) {
	if req.ID == "" {
		req.ID = uuid.NewString()
	}
	req.V = schemas.Version
	b, err := schemas.Encode(req)
	if err != nil {
		return nil, err
	}
	inbox := c.nc.NewInbox()
	r, err := bus.SubscribeStream(c.nc, inbox, c.opts.IdleTimeout, c.opts.Metrics)
	if err != nil {
		return nil, err
	}
	subject := c.opts.Subjects.Generate()
	if err := c.nc.PublishRequest(subject, inbox, b); err != nil {
		_ = r.Close()
		return nil, bus.MapRequestError(subject, err)
	}
	return &Stream{ID: req.ID, c: c, r: r}, nil
}

// Next returns the next message. A KindError message is returned as its
// *schemas.Error; after the final message Next returns bus.ErrClosed. When
// ctx ends the request is cancelled.
//
// Silence for the idle timeout is a typed, retryable error that still
// matches bus.ErrIdle: CodeTimeout before the first stream message (no
// worker took the request in time), CodeWorkerLost after it (the engine
// streaming it stopped: crashed, killed or cut off). The request is
// cancelled in both cases, so a worker that is merely slow frees it.
func (s *Stream) Next(ctx context.Context) (*schemas.StreamMsg, error) {
	m, err := s.r.Next(ctx)
	if err != nil {
		if ctx.Err() != nil {
			s.c.Cancel(s.ID, "context done")
		}
		if errors.Is(err, bus.ErrIdle) {
			s.c.Cancel(s.ID, "stream idle")
			if s.seen == 0 {
				return nil, fmt.Errorf("%w: %w", schemas.NewError(schemas.CodeTimeout, "no answer to request %s within %v", s.ID, s.c.opts.IdleTimeout), err)
			}
			return nil, fmt.Errorf("%w: %w", schemas.NewError(schemas.CodeWorkerLost, "stream of request %s stopped after %d messages (nothing for %v)", s.ID, s.seen, s.c.opts.IdleTimeout), err)
		}
		return nil, err
	}
	s.seen++
	switch m.Kind {
	case schemas.KindError:
		return m, m.Error
	case schemas.KindFinal:
		s.final = m
	}
	return m, nil
}

// Messages iterates the stream until its end or the first error.
func (s *Stream) Messages(ctx context.Context) iter.Seq2[*schemas.StreamMsg, error] {
	return func(yield func(*schemas.StreamMsg, error) bool) {
		for {
			m, err := s.Next(ctx)
			if errors.Is(err, bus.ErrClosed) {
				return
			}
			if !yield(m, err) || err != nil || m.Terminal() {
				return
			}
		}
	}
}

// Final is the final message once the stream ended normally.
func (s *Stream) Final() *schemas.StreamMsg { return s.final }

// Close leaves the stream.
func (s *Stream) Close() error { return s.r.Close() }

// Completion is a whole generation.
type Completion struct {
	ID     string
	Text   string
	IDs    []int32
	Final  *schemas.StreamMsg
	Chunks int
}

// Complete runs a request to the end and returns its text.
func (c *Client) Complete(ctx context.Context, req *schemas.GenerateRequest) (*Completion, error) {
	s, err := c.Generate(ctx, req)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	out := &Completion{ID: s.ID}
	var sb strings.Builder
	for m, err := range s.Messages(ctx) {
		if err != nil {
			return out, err
		}
		if m.Kind == schemas.KindToken {
			out.Chunks++
			sb.WriteString(m.Text)
			out.IDs = append(out.IDs, m.IDs...)
		}
	}
	out.Text = sb.String()
	out.Final = s.final
	if out.Final == nil {
		return out, fmt.Errorf("client: stream of %s ended without a final message", s.ID)
	}
	return out, nil
}

// Cancel asks the workers to stop request id.
func (c *Client) Cancel(id, reason string) {
	b, err := schemas.Encode(&schemas.Cancel{V: schemas.Version, RequestID: id, Reason: reason})
	if err == nil {
		_ = c.nc.Publish(c.opts.Subjects.Cancel(id), b)
	}
}

// Tokenize encodes texts through the tokenize service.
func (c *Client) Tokenize(ctx context.Context, texts []string, addBOS bool) ([][]int32, error) {
	var resp schemas.TokenizeResponse
	if err := bus.Request(ctx, c.nc, c.opts.Subjects.Tokenize(), &schemas.TokenizeRequest{V: schemas.Version, Texts: texts, AddBOS: addBOS}, &resp); err != nil {
		return nil, err
	}
	return resp.IDs, nil
}
