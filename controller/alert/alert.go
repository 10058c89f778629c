package alert

import (
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/krserve/krserve/bus"
	"github.com/nats-io/nats.go"
)

// Severity grades an alert.
type Severity string

// Severities.
const (
	Critical Severity = "critical"
	Warning  Severity = "warning"
	Info     Severity = "info"
)

// Kinds of alerts.
const (
	KindRegression   = "regression"   // the regression detector found a live window worse than the stored profile
	KindRollback     = "rollback"     // a rollout was rolled back (judge, abort or regression)
	KindPromoted     = "promoted"     // a rollout finished and the canary's configuration was promoted
	KindInconclusive = "inconclusive" // K analysis intervals in a row could not decide
	KindStage        = "stage"        // a rollout moved to another traffic stage
)

// Alert is one event.
type Alert struct {
	Time     time.Time `json:"time"`
	Severity Severity  `json:"severity"`
	Kind     string    `json:"kind"`
	Variant  string    `json:"variant,omitempty"`
	Metric   string    `json:"metric,omitempty"`
	Message  string    `json:"message"`
	// Rollout is the id of the rollout concerned, if any.
	Rollout string `json:"rollout,omitempty"`
	// Value is the live or canary measure, Reference the baseline's or the
	// profile's, Effect their relative (or, for error rates, absolute)
	// change, Threshold the tolerated change, P the p-value of the test.
	Value     *float64 `json:"value,omitempty"`
	Reference *float64 `json:"reference,omitempty"`
	Effect    *float64 `json:"effect,omitempty"`
	Threshold *float64 `json:"threshold,omitempty"`
	P         *float64 `json:"p,omitempty"`
	Samples   int      `json:"samples,omitempty"`
}

// Num returns a pointer to v for the optional numeric fields, nil for NaN
// and infinities (which JSON cannot carry).
func Num(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// Sink receives alerts. Implementations must not block for long.
type Sink interface {
	Send(Alert) error
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(Alert) error

// Send calls f.
func (f SinkFunc) Send(a Alert) error { return f(a) }

// Publisher sends alerts on the alerts subject.
type Publisher struct {
	nc      *nats.Conn
	subject string
}

// NewPublisher returns a publisher on subjects.Alerts().
func NewPublisher(nc *nats.Conn, subjects bus.Subjects) *Publisher {
	return &Publisher{nc: nc, subject: subjects.Alerts()}
}

// Send publishes a as JSON.
func (p *Publisher) Send(a Alert) error {
	b, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("alert: encode: %w", err)
	}
	if err := p.nc.Publish(p.subject, b); err != nil {
		return fmt.Errorf("alert: publish on %s: %w", p.subject, err)
	}
	return nil
}
