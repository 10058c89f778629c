package controller

import (
	"fmt"
	"strings"

	"github.com/krserve/krserve/controller/window"
	"github.com/krserve/krserve/schemas"
	"github.com/nats-io/nats.go"
)

// metricsSubject is the wildcard of every metric event subject.
func (c *Controller) metricsSubject() string {
	s := c.cfg.Subjects.Metrics("x", "y")
	return strings.TrimSuffix(s, "x.y") + ">"
}

func (c *Controller) subscribe() (*nats.Subscription, error) {
	sub, err := c.deps.Conn.Subscribe(c.metricsSubject(), c.onMetric)
	if err != nil {
		return nil, err
	}
	// Metric events are small and few; a deep buffer rides out a slow
	// tick. Drops are reported by the connection's slow-consumer handler.
	if err := sub.SetPendingLimits(1<<16, 256<<20); err != nil {
		_ = sub.Unsubscribe()
		return nil, err
	}
	// The server knows the subscription once Flush returns: events
	// published after Ready are not missed.
	if err := c.deps.Conn.Flush(); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("controller: subscribe %s: %w", c.metricsSubject(), err)
	}
	return sub, nil
}

// Reasons a metric message is dropped (the reason label of
// krserve_controller_bad_metric_events_total).
const (
	badDecode   = "decode"           // not a valid MetricEvent
	badSubject  = "subject_mismatch" // variant/worker differ from the subject's
	badVariants = "too_many_variants"
	badSubjects = "subject" // not <prefix>.v1.metrics.<variant>.<worker>
)

func (c *Controller) onMetric(m *nats.Msg) {
	defer c.processed.Add(1)
	base := strings.TrimSuffix(c.metricsSubject(), ">")
	rest := strings.TrimPrefix(m.Subject, base)
	variant, worker, ok := strings.Cut(rest, ".")
	if !ok || variant == "" || worker == "" || strings.Contains(worker, ".") {
		c.dropBad(badSubjects)
		return
	}
	var ev schemas.MetricEvent
	if err := schemas.Decode(m.Data, &ev); err != nil {
		c.dropBad(badDecode)
		return
	}
	if ev.Variant != variant || ev.Worker != worker {
		c.dropBad(badSubject)
		return
	}
	if len(c.win.Variants()) >= c.cfg.Window.MaxVariants && !c.known(variant) {
		c.dropBad(badVariants)
		return
	}
	if !c.sequence(ev) {
		return
	}
	toSec := func(ms []float32) []float64 {
		out := make([]float64, len(ms))
		for i, v := range ms {
			out[i] = float64(v) / 1000
		}
		return out
	}
	tput := make([]float64, len(ev.TokensPerSec))
	for i, v := range ev.TokensPerSec {
		tput[i] = float64(v)
	}
	var err error
	for _, o := range []struct {
		m window.Metric
		x []float64
	}{{window.TTFT, toSec(ev.TTFTMs)}, {window.ITL, toSec(ev.ITLMs)}, {window.Throughput, tput}} {
		if len(o.x) > 0 && err == nil {
			err = c.win.ObserveMany(variant, o.m, o.x)
		}
	}
	if err == nil {
		err = c.win.ObserveRequests(variant, ev.Requests, ev.Errors)
	}
	if err != nil {
		c.dropBad(badVariants)
		return
	}
	now := c.clk.Now()
	c.met.events.WithLabelValues(variant).Inc()
	c.met.lastEvent.WithLabelValues(variant).Set(float64(now.UnixNano()) / 1e9)
	c.mu.Lock()
	c.variant(variant).Events++
	c.variant(variant).LastEvent = now
	c.mu.Unlock()
}

func (c *Controller) known(variant string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.variants[variant]
	return ok
}

// variant returns the counters of a variant; c.mu is held.
func (c *Controller) variant(name string) *VariantStatus {
	v, ok := c.variants[name]
	if !ok {
		v = &VariantStatus{}
		c.variants[name] = v
	}
	return v
}

// sequence checks ev.Seq against the publisher's last one and reports
// whether to use the event: a repeated or older number is a duplicate
// (dropped), a jump is a gap (counted, used), and 0 or 1 after a higher
// number is a restarted publisher.
func (c *Controller) sequence(ev schemas.MetricEvent) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := pubKey{ev.Variant, ev.Worker}
	last, seen := c.pubs[k]
	switch {
	case !seen:
		if len(c.pubs) >= c.cfg.MaxPublishers {
			return true // untracked beyond the bound, still used
		}
	case ev.Seq <= 1 && last > 1:
		c.variant(ev.Variant).Restarts++
		c.met.restarts.WithLabelValues(ev.Variant).Inc()
	case ev.Seq <= last:
		c.variant(ev.Variant).Duplicates++
		c.met.duplicates.WithLabelValues(ev.Variant).Inc()
		return false
	case ev.Seq > last+1:
		c.variant(ev.Variant).Gaps += ev.Seq - last - 1
		c.met.gaps.WithLabelValues(ev.Variant).Add(float64(ev.Seq - last - 1))
	}
	c.pubs[k] = ev.Seq
	return true
}

func (c *Controller) dropBad(reason string) {
	c.met.bad.WithLabelValues(reason).Inc()
	c.mu.Lock()
	c.bad++
	c.mu.Unlock()
}
