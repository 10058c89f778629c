package jobs

import (
	"testing"

	"github.com/krserve/krserve/bus"
)

func TestQueueOf(t *testing.T) {
	s := bus.Subjects{}
	tests := []struct{ subject, want string }{
		{"krserve.v1.jobs.default", "default"},
		{"krserve.v1.jobs.default.job-1", "default"},
		{"krserve.v1.jobs.", ""},
		{"krserve.v1.deadjobs.default", ""},
		{"other", ""},
	}
	for _, tt := range tests {
		if got := queueOf(s, tt.subject); got != tt.want {
			t.Errorf("queueOf(%q) = %q, want %q", tt.subject, got, tt.want)
		}
	}
	if got := queueOf(bus.Subjects{Prefix: "acme.ml"}, "acme.ml.v1.jobs.nightly.x"); got != "nightly" {
		t.Errorf("custom prefix: %q", got)
	}
}

func TestResultKeyRoundTrip(t *testing.T) {
	for _, id := range []string{"plain", "a:b:c", "x=1:y-2_z"} {
		if got := jobIDOfKey(ResultKey(id)); got != id {
			t.Errorf("%q -> %q -> %q", id, ResultKey(id), got)
		}
	}
}

// FuzzQueueOf: any subject gives a queue that is empty or one valid token.
func FuzzQueueOf(f *testing.F) {
	for _, s := range []string{"krserve.v1.jobs.default", "krserve.v1.jobs.default.j-1", "krserve.v1.jobs.a.b.c", "krserve.v1.jobs..x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, subject string) {
		q := queueOf(bus.Subjects{}, subject)
		if q != "" && (len(q) > len(subject) || containsDot(q)) {
			t.Fatalf("queueOf(%q) = %q", subject, q)
		}
	})
}

func containsDot(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			return true
		}
	}
	return false
}
