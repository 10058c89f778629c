package window

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func newTest(t *testing.T, cfg Config) (*Windows, *fakeClock) {
	t.Helper()
	clk := &fakeClock{now: t0}
	w, err := New(cfg, clk)
	if err != nil {
		t.Fatal(err)
	}
	return w, clk
}

func TestConfigValidate(t *testing.T) {
	ok := DefaultConfig()
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		mod  func(*Config)
	}{
		{"zero window", func(c *Config) { c.Window = 0 }},
		{"no samples", func(c *Config) { c.MaxSamples = 0 }},
		{"zero resolution", func(c *Config) { c.Resolution = 0 }},
		{"resolution above window", func(c *Config) { c.Resolution = 2 * c.Window }},
		{"not a multiple", func(c *Config) { c.Resolution = 7 * time.Second }},
		{"too many buckets", func(c *Config) { c.Window = time.Hour; c.Resolution = time.Microsecond }},
		{"no variants", func(c *Config) { c.MaxVariants = 0 }},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := DefaultConfig()
			c.mod(&cfg)
			if err := cfg.Validate(); !errors.Is(err, ErrBadConfig) {
				t.Fatalf("Validate = %v, want ErrBadConfig", err)
			}
			if _, err := New(cfg, SystemClock{}); !errors.Is(err, ErrBadConfig) {
				t.Fatalf("New = %v, want ErrBadConfig", err)
			}
		})
	}
	if _, err := New(ok, nil); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("nil clock: %v", err)
	}
}

func TestSlidingSamples(t *testing.T) {
	cfg := Config{Window: 10 * time.Second, MaxSamples: 100, Resolution: time.Second, MaxVariants: 4}
	type step struct {
		advance time.Duration
		value   float64 // observed as TTFT after advancing; < 0: snapshot only
		want    []float64
	}
	for _, c := range []struct {
		name  string
		steps []step
	}{
		{"empty", []step{{0, -1, nil}}},
		{"within window", []step{{0, 1, nil}, {time.Second, 2, nil}, {0, -1, []float64{1, 2}}}},
		{"expires after window", []step{
			{0, 1, nil}, {5 * time.Second, 2, nil},
			{5*time.Second - 1, -1, []float64{1, 2}}, // t0 is exactly 10 s − 1 ns back: inside
			{1, -1, []float64{2}},                    // t0 is now exactly 10 s back: outside
			{5 * time.Second, -1, nil},
		}},
		{"gap then new data", []step{{0, 1, nil}, {time.Hour, 3, nil}, {0, -1, []float64{3}}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			w, clk := newTest(t, cfg)
			for i, s := range c.steps {
				clk.Advance(s.advance)
				if s.value >= 0 {
					if err := w.Observe("canary", TTFT, s.value); err != nil {
						t.Fatal(err)
					}
					continue
				}
				snap := w.Snapshot("canary")
				if !slices.Equal(snap.TTFT, s.want) {
					t.Fatalf("step %d: TTFT = %v, want %v", i, snap.TTFT, s.want)
				}
				if !snap.End.Equal(clk.Now()) || !snap.Start.Equal(clk.Now().Add(-cfg.Window)) {
					t.Fatalf("step %d: bounds %v..%v", i, snap.Start, snap.End)
				}
			}
		})
	}
}

func TestRingBound(t *testing.T) {
	w, clk := newTest(t, Config{Window: time.Minute, MaxSamples: 3, Resolution: time.Second, MaxVariants: 1})
	for i := range 7 {
		clk.Advance(time.Millisecond)
		if err := w.Observe("b", Throughput, float64(i)); err != nil {
			t.Fatal(err)
		}
	}
	if got := w.Snapshot("b").Throughput; !slices.Equal(got, []float64{4, 5, 6}) {
		t.Fatalf("ring kept %v, want the newest three [4 5 6]", got)
	}
	if err := w.ObserveMany("b", ITL, []float64{0.1, 0.2, 0.3, 0.4}); err != nil {
		t.Fatal(err)
	}
	if got := w.Snapshot("b").ITL; !slices.Equal(got, []float64{0.2, 0.3, 0.4}) {
		t.Fatalf("ITL %v", got)
	}
}

func TestCounts(t *testing.T) {
	cfg := Config{Window: 4 * time.Second, MaxSamples: 10, Resolution: time.Second, MaxVariants: 2}
	w, clk := newTest(t, cfg)
	add := func(r, e int64) {
		t.Helper()
		if err := w.ObserveRequests("v", r, e); err != nil {
			t.Fatal(err)
		}
	}
	check := func(wantR, wantE int64) {
		t.Helper()
		s := w.Snapshot("v")
		if s.Requests != wantR || s.Errors != wantE {
			t.Fatalf("at +%v: %d requests %d errors, want %d %d", clk.Now().Sub(t0), s.Requests, s.Errors, wantR, wantE)
		}
	}
	add(10, 1) // slot 0
	clk.Advance(1500 * time.Millisecond)
	add(20, 0) // slot 1
	add(5, 5)  // slot 1
	check(35, 6)
	clk.Advance(2 * time.Second) // +3.5 s, slot 3: slots 0..3 in
	check(35, 6)
	clk.Advance(time.Second) // +4.5 s, slot 4: slot 0 out
	check(25, 5)
	add(1, 0) // slot 4 reuses slot 0's bucket
	check(26, 5)
	clk.Advance(10 * time.Second)
	check(0, 0)
	if r, ok := w.Snapshot("v").ErrorRate(); ok || r != 0 {
		t.Fatalf("error rate of no requests: %v %v", r, ok)
	}
	add(4, 1)
	if r, ok := w.Snapshot("v").ErrorRate(); !ok || r != 0.25 {
		t.Fatalf("error rate %v %v", r, ok)
	}
}

func TestObserveErrors(t *testing.T) {
	w, _ := newTest(t, Config{Window: time.Minute, MaxSamples: 3, Resolution: time.Second, MaxVariants: 2})
	for _, c := range []struct {
		name string
		call func() error
		want error
	}{
		{"negative", func() error { return w.Observe("a", TTFT, -1) }, ErrBadValue},
		{"unknown metric", func() error { return w.Observe("a", Metric(7), 1) }, ErrUnknownMetric},
		{"empty variant", func() error { return w.Observe("", TTFT, 1) }, ErrEmptyVariant},
		{"errors above requests", func() error { return w.ObserveRequests("a", 1, 2) }, ErrBadValue},
		{"batch with NaN", func() error { return w.ObserveMany("a", ITL, []float64{1, nan()}) }, ErrBadValue},
		{"third variant", func() error {
			if err := w.Observe("a", TTFT, 1); err != nil {
				return err
			}
			if err := w.Observe("b", TTFT, 1); err != nil {
				return err
			}
			return w.Observe("c", TTFT, 1)
		}, ErrTooManyVariants},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := c.call(); !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
	if got := w.Snapshot("a").ITL; got != nil {
		t.Fatalf("rejected batch left samples %v", got)
	}
	if got := w.Variants(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("variants %v", got)
	}
	w.Forget("a")
	if err := w.Observe("c", TTFT, 1); err != nil {
		t.Fatalf("after Forget: %v", err)
	}
}

func nan() float64 { var z float64; return z / z }

func TestSnapshotIsCopy(t *testing.T) {
	w, _ := newTest(t, DefaultConfig())
	if err := w.Observe("v", TTFT, 1); err != nil {
		t.Fatal(err)
	}
	s := w.Snapshot("v")
	s.TTFT[0] = 99
	if got := w.Snapshot("v").TTFT[0]; got != 1 {
		t.Fatalf("snapshot aliases the window: %v", got)
	}
	if got := s.Samples(TTFT); got[0] != 99 || s.Samples(Metric(9)) != nil {
		t.Fatal("Samples accessor")
	}
	if Throughput.String() != "throughput" || Metric(9).String() != "Metric(9)" {
		t.Fatal("metric names")
	}
}

func TestConcurrentUse(t *testing.T) {
	w, clk := newTest(t, Config{Window: time.Minute, MaxSamples: 1000, Resolution: time.Second, MaxVariants: 4})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			v := fmt.Sprintf("v%d", g%2)
			for i := range 500 {
				_ = w.Observe(v, Metric(i%3), float64(i))
				_ = w.ObserveRequests(v, 1, int64(i%2))
				if i%50 == 0 {
					_ = w.Snapshot(v)
					clk.Advance(time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	for _, v := range []string{"v0", "v1"} {
		s := w.Snapshot(v)
		if s.Requests != 1000 || s.Errors != 500 || len(s.TTFT)+len(s.ITL)+len(s.Throughput) != 1000 {
			t.Fatalf("%s: %d requests, %d errors, %d samples", v, s.Requests, s.Errors, len(s.TTFT)+len(s.ITL)+len(s.Throughput))
		}
	}
}

func BenchmarkObserveSnapshot(b *testing.B) {
	clk := &fakeClock{now: t0}
	w, err := New(DefaultConfig(), clk)
	if err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		_ = w.Observe("canary", TTFT, 0.01)
		i++
		if i%1000 == 0 {
			clk.Advance(time.Millisecond)
			_ = w.Snapshot("canary")
		}
	}
}

func TestSnapshotSince(t *testing.T) {
	w, clk := newTest(t, Config{Window: 10 * time.Second, MaxSamples: 100, Resolution: time.Second, MaxVariants: 2})
	// Interval 1: samples and requests at t0+0.5s.
	clk.Advance(500 * time.Millisecond)
	if err := w.Observe("a", TTFT, 1); err != nil {
		t.Fatal(err)
	}
	if err := w.ObserveRequests("a", 10, 1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2500 * time.Millisecond) // t0+3s: first analysis
	first := clk.Now()
	s1 := w.SnapshotSince("a", first.Add(-3*time.Second))
	if len(s1.TTFT) != 1 || s1.Requests != 10 || s1.Errors != 1 {
		t.Fatalf("first interval: %d samples, %d/%d counts", len(s1.TTFT), s1.Errors, s1.Requests)
	}
	// Interval 2: new data only.
	clk.Advance(1500 * time.Millisecond)
	_ = w.Observe("a", TTFT, 2)
	_ = w.ObserveRequests("a", 5, 0)
	clk.Advance(1500 * time.Millisecond)
	s2 := w.SnapshotSince("a", first)
	if len(s2.TTFT) != 1 || s2.TTFT[0] != 2 || s2.Requests != 5 || s2.Errors != 0 {
		t.Fatalf("second interval: %v, %d/%d; want only the new data", s2.TTFT, s2.Errors, s2.Requests)
	}
	if !s2.Start.Equal(first) {
		t.Fatalf("Start = %v, want %v", s2.Start, first)
	}
	// since older than the window is clamped to the window.
	full := w.Snapshot("a")
	old := w.SnapshotSince("a", first.Add(-time.Hour))
	if len(old.TTFT) != len(full.TTFT) || !old.Start.Equal(full.Start) {
		t.Fatalf("SnapshotSince(long ago) = %d samples from %v, Snapshot = %d from %v", len(old.TTFT), old.Start, len(full.TTFT), full.Start)
	}
	if s := w.SnapshotSince("nobody", first); s.Requests != 0 || s.TTFT != nil {
		t.Fatalf("unknown variant: %+v", s)
	}
}
