package regress

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/krserve/krserve/controller/control"
	"github.com/krserve/krserve/controller/stats"
	"github.com/krserve/krserve/controller/window"
	"github.com/nats-io/nats.go/jetstream"
)

var (
	// ErrTooFewSamples means a window has too few samples to profile; wait
	// for more traffic and capture again.
	ErrTooFewSamples = errors.New("regress: too few samples to profile")
	// ErrBadConfig means a Config field is out of range.
	ErrBadConfig = errors.New("regress: invalid config")
	// ErrConflict means the stored profiles kept changing under a
	// revision-checked update; retry.
	ErrConflict = errors.New("regress: concurrent profile update")
)

// MetricProfile summarizes one metric's samples.
type MetricProfile struct {
	N      int     `json:"n"`
	Mean   float64 `json:"mean"`
	StdDev float64 `json:"stddev"`
	Median float64 `json:"median"`
	P99    float64 `json:"p99"`
	// Above99 counts the samples strictly above P99.
	Above99 int `json:"above_p99"`
	// Points are evenly spaced quantiles of the samples (all of them when
	// there are few), ascending.
	Points []float64 `json:"points"`
}

// Profile is the stored behaviour of one variant.
type Profile struct {
	Variant    string        `json:"variant"`
	CapturedAt time.Time     `json:"captured_at"`
	Throughput MetricProfile `json:"throughput"` // tokens/s
	TTFT       MetricProfile `json:"ttft"`       // seconds
	ITL        MetricProfile `json:"itl"`        // seconds
	Requests   int64         `json:"requests"`
	Errors     int64         `json:"errors"`
}

// Profiles maps variant to profile: the "baseline_profile" value.
type Profiles map[string]Profile

func summarize(x []float64, points int) (MetricProfile, error) {
	p := MetricProfile{N: len(x)}
	if len(x) == 0 {
		return p, nil
	}
	s := slices.Clone(x)
	slices.Sort(s)
	var err error
	if p.Mean, err = stats.Mean(s); err != nil {
		return p, err
	}
	if len(s) > 1 {
		if p.StdDev, err = stats.StdDev(s); err != nil {
			return p, err
		}
	}
	q, err := stats.Quantiles(s, 0.5, 0.99)
	if err != nil {
		return p, err
	}
	p.Median, p.P99 = q[0], q[1]
	i, _ := slices.BinarySearch(s, math.Nextafter(p.P99, math.Inf(1)))
	p.Above99 = len(s) - i
	if len(s) <= points {
		p.Points = s
		return p, nil
	}
	p.Points = make([]float64, points)
	for k := range points {
		// Midpoint quantiles (k+0.5)/points avoid the extremes.
		v, _ := stats.Quantile(s, (float64(k)+0.5)/float64(points))
		p.Points[k] = v
	}
	return p, nil
}

// Capture summarizes a window as a profile. Every sampled metric needs at
// least minSamples samples (ErrTooFewSamples).
func Capture(s window.Snapshot, points, minSamples int, now time.Time) (Profile, error) {
	p := Profile{Variant: s.Variant, CapturedAt: now, Requests: s.Requests, Errors: s.Errors}
	for _, m := range []struct {
		name string
		dst  *MetricProfile
		x    []float64
	}{{"throughput", &p.Throughput, s.Throughput}, {"ttft", &p.TTFT, s.TTFT}, {"itl", &p.ITL, s.ITL}} {
		if len(m.x) < minSamples {
			return Profile{}, fmt.Errorf("%w: %s has %d %s samples, need %d", ErrTooFewSamples, s.Variant, len(m.x), m.name, minSamples)
		}
		mp, err := summarize(m.x, points)
		if err != nil {
			return Profile{}, fmt.Errorf("regress: profile %s %s: %w", s.Variant, m.name, err)
		}
		*m.dst = mp
	}
	return p, nil
}

// LoadProfiles reads the stored profiles and their revision (0: none).
func LoadProfiles(ctx context.Context, kv jetstream.KeyValue) (Profiles, uint64, error) {
	e, err := kv.Get(ctx, control.KeyBaseline)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
		return Profiles{}, 0, nil
	case err != nil:
		return nil, 0, fmt.Errorf("regress: load profiles: %w", err)
	}
	ps := Profiles{}
	if err := json.Unmarshal(e.Value(), &ps); err != nil {
		return nil, 0, fmt.Errorf("regress: decode profiles (revision %d): %w", e.Revision(), err)
	}
	if ps == nil {
		ps = Profiles{}
	}
	return ps, e.Revision(), nil
}

// UpdateProfiles applies fn to the stored profiles with a revision-checked
// write, retrying on conflict.
func UpdateProfiles(ctx context.Context, kv jetstream.KeyValue, fn func(Profiles)) error {
	for range 8 {
		ps, rev, err := LoadProfiles(ctx, kv)
		if err != nil {
			return err
		}
		fn(ps)
		b, err := json.Marshal(ps)
		if err != nil {
			return fmt.Errorf("regress: encode profiles: %w", err)
		}
		if rev == 0 {
			_, err = kv.Create(ctx, control.KeyBaseline, b)
		} else {
			_, err = kv.Update(ctx, control.KeyBaseline, b, rev)
		}
		switch {
		case err == nil:
			return nil
		case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch):
			continue
		default:
			return fmt.Errorf("regress: store profiles: %w", err)
		}
	}
	return ErrConflict
}

// SaveProfile stores p under its variant, replacing an older profile.
func SaveProfile(ctx context.Context, kv jetstream.KeyValue, p Profile) error {
	return UpdateProfiles(ctx, kv, func(ps Profiles) { ps[p.Variant] = p })
}

// DeleteProfile removes a variant's profile.
func DeleteProfile(ctx context.Context, kv jetstream.KeyValue, variant string) error {
	return UpdateProfiles(ctx, kv, func(ps Profiles) { delete(ps, variant) })
}
