package regress

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/krserve/krserve/controller/alert"
	"github.com/krserve/krserve/controller/control"
	"github.com/krserve/krserve/controller/window"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// Source gives the live windows.
type Source interface {
	SnapshotSince(variant string, since time.Time) window.Snapshot
}

// Deps are the detector's dependencies.
type Deps struct {
	KV      jetstream.KeyValue
	Windows Source
	Alerts  alert.Sink // nil = none
	Metrics *Metrics   // nil = none
	Logger  *slog.Logger
	// OnRollback, when set, is called after an automatic rollback of
	// variant (the controller ends an active rollout with it).
	OnRollback func(ctx context.Context, now time.Time, r Report)
}

// Detector checks live windows against stored profiles.
type Detector struct {
	cfg     Config
	deps    Deps
	log     *slog.Logger
	last    time.Time
	streaks map[string]int
	reports []Report
}

// NewDetector validates cfg and returns a detector. It starts no
// goroutines.
func NewDetector(cfg Config, deps Deps) (*Detector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.KV == nil || deps.Windows == nil {
		return nil, fmt.Errorf("%w: Deps.KV and Deps.Windows are required", ErrBadConfig)
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Detector{cfg: cfg, deps: deps, log: log, streaks: map[string]int{}}, nil
}

// Capture profiles the variant's window since since and stores it.
func (d *Detector) Capture(ctx context.Context, now time.Time, variant string, since time.Time) (Profile, error) {
	p, err := Capture(d.deps.Windows.SnapshotSince(variant, since), d.cfg.Points, d.cfg.MinSamples, now)
	if err != nil {
		return Profile{}, err
	}
	if err := SaveProfile(ctx, d.deps.KV, p); err != nil {
		return Profile{}, err
	}
	delete(d.streaks, variant)
	d.log.Info("regress: baseline profile stored", "variant", variant, "samples", p.TTFT.N)
	return p, nil
}

// Reports returns the reports of the last check.
func (d *Detector) Reports() []Report { return slices.Clone(d.reports) }

// Tick checks when Config.Every has passed since the last check.
func (d *Detector) Tick(ctx context.Context, now time.Time) ([]Report, error) {
	if !d.last.IsZero() && now.Sub(d.last) < d.cfg.Every {
		return nil, nil
	}
	return d.Check(ctx, now)
}

// Check compares every profiled variant's data since the previous check
// (the whole window on the first) with its profile, alerts, and rolls back
// variants with CriticalStreak consecutive CRITICAL reports.
func (d *Detector) Check(ctx context.Context, now time.Time) ([]Report, error) {
	ps, _, err := LoadProfiles(ctx, d.deps.KV)
	if err != nil {
		return nil, err
	}
	since := d.last
	d.last = now
	var out []Report
	for _, v := range slices.Sorted(maps.Keys(ps)) {
		r := Compare(ps[v], d.deps.Windows.SnapshotSince(v, since), d.cfg, now)
		d.deps.Metrics.observe(r)
		d.alert(r)
		if r.Severity == Critical {
			d.streaks[v]++
		} else {
			d.streaks[v] = 0
		}
		if d.cfg.CriticalStreak > 0 && d.streaks[v] >= d.cfg.CriticalStreak {
			if err := d.rollback(ctx, now, r); err != nil {
				return out, err
			}
			delete(d.streaks, v)
		}
		out = append(out, r)
	}
	for v := range d.streaks {
		if _, ok := ps[v]; !ok {
			delete(d.streaks, v)
		}
	}
	d.reports = out
	return out, nil
}

func (d *Detector) alert(r Report) {
	for _, f := range r.Findings {
		if f.Severity == None {
			continue
		}
		d.deps.Metrics.alerted(f)
		sev := alert.Warning
		if f.Severity == Critical {
			sev = alert.Critical
		}
		d.send(alert.Alert{Time: r.At, Severity: sev, Kind: alert.KindRegression, Variant: r.Variant, Metric: f.Metric,
			Message: fmt.Sprintf("%s: %s", r.Variant, f.Reason), Value: alert.Num(float64(f.Value)), Reference: alert.Num(float64(f.Reference)),
			Effect: alert.Num(float64(f.Effect)), Threshold: alert.Num(f.Threshold), P: alert.Num(float64(f.P)), Samples: f.N})
	}
}

func (d *Detector) send(a alert.Alert) {
	if d.deps.Alerts == nil {
		return
	}
	if err := d.deps.Alerts.Send(a); err != nil {
		d.log.Warn("regress: alert not sent", "err", err)
	}
}

// rollback sends every canary's traffic to the baseline, switches off the
// features the variant's overrides enable and drops its profile.
func (d *Detector) rollback(ctx context.Context, now time.Time, r Report) error {
	kv := d.deps.KV
	w, err := control.GetWeights(ctx, kv)
	if err != nil {
		return err
	}
	if len(w.Variants()) > 0 {
		if err := control.PutWeights(ctx, kv, control.Weights{Baseline: w.Baseline}); err != nil {
			return err
		}
	}
	var disabled control.VariantFlags
	err = control.UpdateFlags(ctx, kv, func(o control.FlagOverrides) control.FlagOverrides {
		disabled = o[r.Variant].Disabled()
		if disabled.IsZero() {
			delete(o, r.Variant)
		} else {
			o[r.Variant] = disabled
		}
		return o
	})
	if err != nil {
		return err
	}
	if err := DeleteProfile(ctx, kv, r.Variant); err != nil {
		return err
	}
	d.deps.Metrics.rolledBack(r.Variant)
	what := "no feature overrides to disable"
	if !disabled.IsZero() {
		what = "its feature overrides disabled"
	}
	d.log.Warn("regress: automatic rollback", "variant", r.Variant, "flags", what)
	d.send(alert.Alert{Time: now, Severity: alert.Critical, Kind: alert.KindRollback, Variant: r.Variant,
		Message: fmt.Sprintf("%s regressed against its baseline profile in %d consecutive checks: traffic to baseline %q, %s", r.Variant, d.cfg.CriticalStreak, w.Baseline, what)})
	if d.deps.OnRollback != nil {
		d.deps.OnRollback(ctx, now, r)
	}
	return nil
}

// Metrics are the regression detector's metrics. A nil *Metrics records
// nothing.
type Metrics struct {
	alerts    *prometheus.CounterVec
	checks    *prometheus.CounterVec
	effect    *prometheus.GaugeVec
	rollbacks *prometheus.CounterVec
}

// NewMetrics registers the metrics on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "krserve_regression_alerts_total",
			Help: "Regression findings alerted, by severity (warning, critical) and metric."}, []string{"severity", "metric"}),
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "krserve_regression_checks_total",
			Help: "Regression checks of a profiled variant, by worst severity (none, warning, critical)."}, []string{"variant", "severity"}),
		effect: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "krserve_regression_effect_ratio",
			Help: "Last change of a metric against the variant's baseline profile (relative; absolute for error_rate; NaN when not judged)."}, []string{"variant", "metric"}),
		rollbacks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "krserve_regression_rollbacks_total",
			Help: "Automatic rollbacks by the regression detector, by variant."}, []string{"variant"}),
	}
	for _, c := range []prometheus.Collector{m.alerts, m.checks, m.effect, m.rollbacks} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, s := range []Severity{Warning, Critical} {
		for _, mt := range []string{"throughput", "ttft", "itl", "ttft_p99", "itl_p99", "error_rate"} {
			m.alerts.WithLabelValues(string(s), mt)
		}
	}
	return m, nil
}

func (m *Metrics) observe(r Report) {
	if m == nil {
		return
	}
	sev := string(r.Severity)
	if sev == "" {
		sev = "none"
	}
	m.checks.WithLabelValues(r.Variant, sev).Inc()
	for _, f := range r.Findings {
		m.effect.WithLabelValues(r.Variant, f.Metric).Set(float64(f.Effect))
	}
}

func (m *Metrics) alerted(f Finding) {
	if m == nil {
		return
	}
	m.alerts.WithLabelValues(string(f.Severity), f.Metric).Inc()
}

func (m *Metrics) rolledBack(variant string) {
	if m == nil {
		return
	}
	m.rollbacks.WithLabelValues(variant).Inc()
}
