package judge

import (
	"errors"
	"testing"
)

func TestStreak(t *testing.T) {
	const (
		P = Pass
		F = Fail
		I = Inconclusive
	)
	for _, c := range []struct {
		name string
		n    int
		seq  []Decision
		want []bool
	}{
		{"one failure is enough with n=1", 1, []Decision{P, F, P}, []bool{false, true, false}},
		{"three in a row", 3, []Decision{F, F, F, F}, []bool{false, false, true, true}},
		{"pass resets", 3, []Decision{F, F, P, F, F, F}, []bool{false, false, false, false, false, true}},
		{"inconclusive ignored", 3, []Decision{F, I, F, I, I, F}, []bool{false, false, false, false, false, true}},
		{"inconclusive alone never rolls back", 1, []Decision{I, I, I}, []bool{false, false, false}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := NewStreak(c.n)
			if err != nil {
				t.Fatal(err)
			}
			for i, d := range c.seq {
				if got := s.Observe(d); got != c.want[i] {
					t.Fatalf("step %d (%v): rollback %v, want %v (failures %d)", i, d, got, c.want[i], s.Failures())
				}
			}
			s.Reset()
			if s.Failures() != 0 {
				t.Fatal("Reset")
			}
		})
	}
	if _, err := NewStreak(0); !errors.Is(err, ErrBadStreak) {
		t.Fatalf("err = %v", err)
	}
}

func BenchmarkJudge(b *testing.B) {
	c := DefaultCriteria()
	for _, name := range Names() {
		b.Run(name, func(b *testing.B) {
			j, _ := New(name)
			bs, cs := benchSnapshots()
			for b.Loop() {
				_ = j.Judge(bs, cs, c)
			}
		})
	}
}
