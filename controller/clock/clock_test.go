package clock

import (
	"testing"
	"time"
)

func TestManual(t *testing.T) {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	m := NewManual(start)
	if got := m.Now(); !got.Equal(start) {
		t.Fatalf("Now = %v, want %v", got, start)
	}
	if got := m.Advance(time.Second); !got.Equal(start.Add(time.Second)) {
		t.Fatalf("Advance = %v", got)
	}
	if got := m.Advance(-time.Hour); !got.Equal(start.Add(time.Second)) {
		t.Fatalf("negative Advance moved the clock to %v", got)
	}
	if got := m.Set(start); !got.Equal(start.Add(time.Second)) {
		t.Fatalf("Set to the past moved the clock to %v", got)
	}
	if got := m.Set(start.Add(time.Minute)); !got.Equal(start.Add(time.Minute)) {
		t.Fatalf("Set = %v", got)
	}
	var _ Clock = System{}
	if d := time.Since(System{}.Now()); d < 0 || d > time.Minute {
		t.Fatalf("System clock off by %v", d)
	}
}
