package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/krserve/krserve/bus"
	"github.com/krserve/krserve/bus/client"
	"github.com/krserve/krserve/internal/testenv"
	"github.com/krserve/krserve/schemas"
	"github.com/nats-io/nats.go"
)

// TestIdleIsTyped: a stream that goes silent fails with a typed retryable
// error that still matches bus.ErrIdle — timeout before the first message,
// worker_lost after it — and the request is cancelled.
func TestIdleIsTyped(t *testing.T) {
	srv, nc := testenv.NATS(t)
	worker := testenv.Conn(t, srv)
	s := bus.Subjects{}
	cancels := make(chan string, 4)
	if _, err := worker.Subscribe(s.Cancel("*"), func(m *nats.Msg) {
		var c schemas.Cancel
		if schemas.Decode(m.Data, &c) == nil {
			cancels <- c.RequestID
		}
	}); err != nil {
		t.Fatal(err)
	}
	// A worker that streams one token for prompts "one" and then dies, and
	// never answers anything else.
	if _, err := worker.Subscribe(s.Generate(), func(m *nats.Msg) {
		var req schemas.GenerateRequest
		if schemas.Decode(m.Data, &req) == nil && req.Prompt == "one" {
			_ = bus.NewStreamWriter(worker, m.Reply, req.ID).Token([]int32{5}, "x")
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := worker.Flush(); err != nil {
		t.Fatal(err)
	}
	c := client.New(nc, client.Options{IdleTimeout: 200 * time.Millisecond})
	for _, tc := range []struct {
		prompt string
		want   *schemas.Error
	}{
		{"silent", schemas.ErrTimeout},
		{"one", schemas.ErrWorkerLost},
	} {
		start := time.Now()
		got, err := c.Complete(context.Background(), &schemas.GenerateRequest{Prompt: tc.prompt})
		var e *schemas.Error
		if !errors.Is(err, tc.want) || !errors.Is(err, bus.ErrIdle) || !errors.As(err, &e) || !e.Retryable {
			t.Fatalf("%s: err = %v, want %v wrapping bus.ErrIdle", tc.prompt, err, tc.want)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: failed after %v, idle timeout 200ms", tc.prompt, d)
		}
		select {
		case id := <-cancels:
			if id != got.ID {
				t.Errorf("%s: cancelled %s, want %s", tc.prompt, id, got.ID)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("%s: no cancel after the idle timeout", tc.prompt)
		}
	}
}
