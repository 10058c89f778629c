package window

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

var (
	// ErrBadConfig means a Config field is out of range; fix the
	// configuration (the message names the field).
	ErrBadConfig = errors.New("window: invalid config")
	// ErrBadValue means an observation is NaN, infinite, negative or a count
	// is inconsistent (more errors than requests). The observation is
	// dropped; fix the publisher.
	ErrBadValue = errors.New("window: invalid observation")
	// ErrUnknownMetric means a Metric outside the defined constants.
	ErrUnknownMetric = errors.New("window: unknown metric")
	// ErrEmptyVariant means the variant name is empty.
	ErrEmptyVariant = errors.New("window: empty variant name")
	// ErrTooManyVariants means Config.MaxVariants variants already have
	// windows; the observation is dropped. Remove finished variants with
	// Forget, or raise the limit.
	ErrTooManyVariants = errors.New("window: too many variants")
)

// Clock tells the time. Production uses SystemClock; tests inject a fake.
type Clock interface {
	Now() time.Time
}

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// Metric names a sampled metric.
type Metric int

const (
	// Throughput is decode throughput of one request, tokens per second.
	Throughput Metric = iota
	// TTFT is time to first token of one request, seconds.
	TTFT
	// ITL is an inter-token latency, seconds.
	ITL
	numMetrics
)

// Metrics lists every sampled metric.
var Metrics = []Metric{Throughput, TTFT, ITL}

func (m Metric) String() string {
	switch m {
	case Throughput:
		return "throughput"
	case TTFT:
		return "ttft"
	case ITL:
		return "itl"
	}
	return fmt.Sprintf("Metric(%d)", int(m))
}

// Config sizes the windows.
type Config struct {
	// Window is how far back a snapshot looks.
	Window time.Duration
	// MaxSamples bounds the samples kept per variant and metric.
	MaxSamples int
	// Resolution is the width of a count bucket; Window must be a multiple
	// of it. Counts expire one bucket at a time.
	Resolution time.Duration
	// MaxVariants bounds how many variants have windows at once.
	MaxVariants int
}

// DefaultConfig is a one-minute window of up to 4096 samples per metric,
// one-second count buckets and 16 variants.
func DefaultConfig() Config {
	return Config{Window: time.Minute, MaxSamples: 4096, Resolution: time.Second, MaxVariants: 16}
}

// Validate reports the first field out of range, wrapping ErrBadConfig.
func (c Config) Validate() error {
	switch {
	case c.Window <= 0:
		return fmt.Errorf("%w: Window %v must be positive", ErrBadConfig, c.Window)
	case c.MaxSamples < 1:
		return fmt.Errorf("%w: MaxSamples %d must be at least 1", ErrBadConfig, c.MaxSamples)
	case c.Resolution <= 0 || c.Resolution > c.Window:
		return fmt.Errorf("%w: Resolution %v must be in (0, Window=%v]", ErrBadConfig, c.Resolution, c.Window)
	case c.Window%c.Resolution != 0:
		return fmt.Errorf("%w: Window %v is not a multiple of Resolution %v", ErrBadConfig, c.Window, c.Resolution)
	case c.Window/c.Resolution > 1<<20:
		return fmt.Errorf("%w: Window/Resolution = %d buckets is more than 2^20", ErrBadConfig, c.Window/c.Resolution)
	case c.MaxVariants < 1:
		return fmt.Errorf("%w: MaxVariants %d must be at least 1", ErrBadConfig, c.MaxVariants)
	}
	return nil
}

// Snapshot is a copy of one variant's window.
type Snapshot struct {
	Variant string
	// Start and End bound the window: samples have Start < t ≤ End.
	Start, End time.Time
	// Throughput holds tokens/s samples; TTFT and ITL hold seconds.
	Throughput, TTFT, ITL []float64
	// Requests and Errors count the requests finished in the window and the
	// failed ones among them.
	Requests, Errors int64
}

// Samples returns the samples of m (nil for an unknown metric).
func (s Snapshot) Samples(m Metric) []float64 {
	switch m {
	case Throughput:
		return s.Throughput
	case TTFT:
		return s.TTFT
	case ITL:
		return s.ITL
	}
	return nil
}

// ErrorRate returns Errors/Requests and false when there were no requests.
func (s Snapshot) ErrorRate() (float64, bool) {
	if s.Requests <= 0 {
		return 0, false
	}
	return float64(s.Errors) / float64(s.Requests), true
}

// Windows holds the windows of every variant.
type Windows struct {
	cfg   Config
	clock Clock

	mu       sync.Mutex
	variants map[string]*variant
}

type variant struct {
	samples [numMetrics]ring
	counts  buckets
}

// New returns empty windows. It validates cfg and starts no goroutines.
func New(cfg Config, clock Clock) (*Windows, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if clock == nil {
		return nil, fmt.Errorf("%w: nil Clock", ErrBadConfig)
	}
	return &Windows{cfg: cfg, clock: clock, variants: map[string]*variant{}}, nil
}

// get returns the variant's windows, creating them; w.mu is held.
func (w *Windows) get(name string) (*variant, error) {
	if name == "" {
		return nil, ErrEmptyVariant
	}
	if v, ok := w.variants[name]; ok {
		return v, nil
	}
	if len(w.variants) >= w.cfg.MaxVariants {
		return nil, fmt.Errorf("%w: %d variants, dropping %q", ErrTooManyVariants, len(w.variants), name)
	}
	v := &variant{counts: newBuckets(w.cfg)}
	for i := range v.samples {
		v.samples[i] = newRing(w.cfg.MaxSamples)
	}
	w.variants[name] = v
	return v, nil
}

// Observe records one sample of m for the variant at the clock's now.
func (w *Windows) Observe(name string, m Metric, value float64) error {
	if m < 0 || m >= numMetrics {
		return fmt.Errorf("%w: %v", ErrUnknownMetric, m)
	}
	if math.IsNaN(value) || math.IsInf(value, 0) || value < 0 {
		return fmt.Errorf("%w: %v sample %g", ErrBadValue, m, value)
	}
	now := w.clock.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	v, err := w.get(name)
	if err != nil {
		return err
	}
	v.samples[m].push(now, value)
	return nil
}

// ObserveMany records several samples of m at the clock's now, as a metric
// event carrying a batch does. Either all are recorded or none.
func (w *Windows) ObserveMany(name string, m Metric, values []float64) error {
	if m < 0 || m >= numMetrics {
		return fmt.Errorf("%w: %v", ErrUnknownMetric, m)
	}
	for _, value := range values {
		if math.IsNaN(value) || math.IsInf(value, 0) || value < 0 {
			return fmt.Errorf("%w: %v sample %g", ErrBadValue, m, value)
		}
	}
	now := w.clock.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	v, err := w.get(name)
	if err != nil {
		return err
	}
	for _, value := range values {
		v.samples[m].push(now, value)
	}
	return nil
}

// ObserveRequests adds finished requests and the failed ones among them.
func (w *Windows) ObserveRequests(name string, requests, errs int64) error {
	if requests < 0 || errs < 0 || errs > requests {
		return fmt.Errorf("%w: %d errors of %d requests", ErrBadValue, errs, requests)
	}
	now := w.clock.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	v, err := w.get(name)
	if err != nil {
		return err
	}
	v.counts.add(now, requests, errs)
	return nil
}

// Snapshot copies the variant's window ending at the clock's now. An
// unknown variant gives an empty snapshot (no samples, zero counts): no
// data, which judges treat as inconclusive.
func (w *Windows) Snapshot(name string) Snapshot {
	now := w.clock.Now()
	start := now.Add(-w.cfg.Window)
	s := Snapshot{Variant: name, Start: start, End: now}
	w.mu.Lock()
	defer w.mu.Unlock()
	v, ok := w.variants[name]
	if !ok {
		return s
	}
	s.Throughput = v.samples[Throughput].since(start, now)
	s.TTFT = v.samples[TTFT].since(start, now)
	s.ITL = v.samples[ITL].since(start, now)
	s.Requests, s.Errors = v.counts.sum(now)
	return s
}

// SnapshotSince copies the part of the variant's window observed after
// since: samples with since < t ≤ now, and the counts of the buckets that
// begin at or after since (when since falls inside a bucket, that bucket's
// requests are left out, so consecutive calls never count a request twice;
// analysis times on Resolution boundaries lose nothing). It never
// reaches further back than Snapshot does. Consecutive analysis intervals
// use it to judge disjoint data.
func (w *Windows) SnapshotSince(name string, since time.Time) Snapshot {
	now := w.clock.Now()
	start := now.Add(-w.cfg.Window)
	if since.After(start) {
		start = since
	}
	s := Snapshot{Variant: name, Start: start, End: now}
	w.mu.Lock()
	defer w.mu.Unlock()
	v, ok := w.variants[name]
	if !ok {
		return s
	}
	s.Throughput = v.samples[Throughput].since(start, now)
	s.TTFT = v.samples[TTFT].since(start, now)
	s.ITL = v.samples[ITL].since(start, now)
	s.Requests, s.Errors = v.counts.sumAfter(start, now)
	return s
}

// Variants returns the names of the variants with windows, sorted.
func (w *Windows) Variants() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	names := make([]string, 0, len(w.variants))
	for n := range w.variants {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Forget drops a variant's windows (after a rollout ends), freeing its slot.
func (w *Windows) Forget(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.variants, name)
}
