package jobs

import (
	"context"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// BenchmarkJobRoundTrip measures one job from Submit to its stored result
// on one engine generating one token, so the queue (publish with dedupe,
// fetch, result lookup, encode, revision-guarded store, ack) dominates.
func BenchmarkJobRoundTrip(b *testing.B) {
	q := newQueue(b, testConfig())
	startEngine(b, q, "bench", engineOpts{})
	ctx := context.Background()
	w, err := q.a.Results.WatchAll(ctx, jetstream.UpdatesOnly())
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = w.Stop() }()
	n := 0
	for b.Loop() {
		id := fmt.Sprintf("bench-%d", n)
		n++
		if _, err := Submit(ctx, q.js, DefaultQueue, job(id, "Once", 1)); err != nil {
			b.Fatal(err)
		}
		for e := range w.Updates() {
			if e != nil && e.Key() == ResultKey(id) {
				break
			}
		}
	}
}
