package route

import (
	"fmt"
	"hash/fnv"
	"math"
	"sort"
)

// Buckets is the resolution of canary weights: 10000 buckets = 0.01 %.
const Buckets = 10000

// Weights maps variant name to its share of traffic in percent. The baseline
// variant takes whatever the others leave.
type Weights map[string]float64

// Validate checks that the canary weights are in [0, 100] and sum to at most 100.
func (w Weights) Validate(baseline string) error {
	sum := 0.0
	for v, p := range w {
		if math.IsNaN(p) || p < 0 || p > 100 {
			return fmt.Errorf("route: weight of %q is %v, want 0..100", v, p)
		}
		if v != baseline {
			sum += p
		}
	}
	if sum > 100+1e-9 {
		return fmt.Errorf("route: canary weights sum to %v %%", sum)
	}
	return nil
}

// Bucket maps a routing key to [0, Buckets).
func Bucket(key string) int {
	h := fnv.New64a()
	h.Write([]byte(key))
	x := h.Sum64()
	x ^= x >> 31
	x *= 0x9e3779b97f4a7c15
	x ^= x >> 29
	return int(x % Buckets)
}

// SelectVariant returns the variant that serves key. Canary variants (every
// name but baseline) own contiguous bucket ranges from 0 in name order; the
// baseline owns the rest. Raising one canary's weight therefore moves keys
// only from the baseline to it.
func SelectVariant(key, baseline string, w Weights) string {
	if len(w) == 0 {
		return baseline
	}
	names := make([]string, 0, len(w))
	for v := range w {
		if v != baseline {
			names = append(names, v)
		}
	}
	sort.Strings(names)
	b := Bucket(key)
	edge := 0
	for _, v := range names {
		edge += int(math.Round(w[v] * Buckets / 100))
		if b < edge {
			return v
		}
	}
	return baseline
}
