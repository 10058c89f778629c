package alert

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/krserve/krserve/bus"
	"github.com/krserve/krserve/internal/testenv"
)

func TestPublish(t *testing.T) {
	_, nc := testenv.NATS(t)
	sub, err := nc.SubscribeSync(bus.Subjects{}.Alerts())
	if err != nil {
		t.Fatal(err)
	}
	p := NewPublisher(nc, bus.Subjects{})
	want := Alert{Time: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), Severity: Critical, Kind: KindRegression,
		Variant: "baseline", Metric: "ttft", Message: "ttft +25%", Effect: Num(0.25), P: Num(math.NaN())}
	if err := p.Send(want); err != nil {
		t.Fatal(err)
	}
	m, err := sub.NextMsg(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var got Alert
	if err := json.Unmarshal(m.Data, &got); err != nil {
		t.Fatal(err)
	}
	if got.Severity != Critical || got.Kind != KindRegression || got.Effect == nil || *got.Effect != 0.25 || got.P != nil || !got.Time.Equal(want.Time) {
		t.Fatalf("got %+v from %s", got, m.Data)
	}
}
