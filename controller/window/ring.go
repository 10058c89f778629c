package window

import "time"

// ring is a bounded buffer of timestamped samples; when full, a push
// overwrites the oldest sample.
type ring struct {
	at    []time.Time
	vals  []float64
	start int // index of the oldest sample
	n     int
}

func newRing(capacity int) ring {
	return ring{at: make([]time.Time, capacity), vals: make([]float64, capacity)}
}

func (r *ring) push(t time.Time, v float64) {
	c := len(r.vals)
	if r.n < c {
		i := (r.start + r.n) % c
		r.at[i], r.vals[i] = t, v
		r.n++
		return
	}
	r.at[r.start], r.vals[r.start] = t, v
	r.start = (r.start + 1) % c
}

// since copies, oldest first, the samples with start < t ≤ end. It returns
// nil when there are none.
func (r *ring) since(start, end time.Time) []float64 {
	var out []float64
	c := len(r.vals)
	for k := range r.n {
		i := (r.start + k) % c
		if t := r.at[i]; t.After(start) && !t.After(end) {
			out = append(out, r.vals[i])
		}
	}
	return out
}

// buckets counts requests and errors in fixed-width time buckets covering
// one window; bucket k holds the slot starting at k·Resolution since the
// zero time, modulo the ring length.
type buckets struct {
	res   time.Duration
	slot  []int64 // slot number held by each bucket, −1 when unused
	reqs  []int64
	errs  []int64
	nslot int64
}

func newBuckets(cfg Config) buckets {
	n := int(cfg.Window / cfg.Resolution)
	b := buckets{res: cfg.Resolution, slot: make([]int64, n), reqs: make([]int64, n), errs: make([]int64, n), nslot: int64(n)}
	for i := range b.slot {
		b.slot[i] = -1 << 62
	}
	return b
}

// slotOf numbers the bucket holding time t.
func (b *buckets) slotOf(t time.Time) int64 {
	d := t.UnixNano()
	s := d / int64(b.res)
	if d < 0 && d%int64(b.res) != 0 {
		s--
	}
	return s
}

func (b *buckets) index(s int64) int {
	i := s % b.nslot
	if i < 0 {
		i += b.nslot
	}
	return int(i)
}

func (b *buckets) add(t time.Time, reqs, errs int64) {
	s := b.slotOf(t)
	i := b.index(s)
	if b.slot[i] != s {
		if b.slot[i] > s {
			// An older slot than the one stored: already outside the window.
			return
		}
		b.slot[i], b.reqs[i], b.errs[i] = s, 0, 0
	}
	b.reqs[i] += reqs
	b.errs[i] += errs
}

// sum adds the buckets of the nslot slots ending with now's slot.
func (b *buckets) sum(now time.Time) (reqs, errs int64) {
	cur := b.slotOf(now)
	for i, s := range b.slot {
		if s > cur-b.nslot && s <= cur {
			reqs += b.reqs[i]
			errs += b.errs[i]
		}
	}
	return reqs, errs
}

// sumAfter adds the buckets of the window ending with now's slot that
// begin at or after start.
func (b *buckets) sumAfter(start, now time.Time) (reqs, errs int64) {
	cur, first := b.slotOf(now), b.slotOf(start)
	if start.UnixNano()%int64(b.res) == 0 {
		first-- // start is the first instant of its slot: include the slot
	}
	for i, s := range b.slot {
		if s > cur-b.nslot && s <= cur && s > first {
			reqs += b.reqs[i]
			errs += b.errs[i]
		}
	}
	return reqs, errs
}
