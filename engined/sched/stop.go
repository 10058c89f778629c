package sched

import "strings"

// stopper holds back generated text that could still turn into a stop
// string, so a stop string is never streamed, even across token boundaries.
type stopper struct {
	stops   []string
	maxLen  int
	pending strings.Builder
}

func newStopper(stops []string) stopper {
	s := stopper{stops: stops}
	for _, x := range stops {
		s.maxLen = max(s.maxLen, len(x))
	}
	return s
}

// push adds a text delta and returns the text that is safe to emit and
// whether a stop string was found (the text before it is returned; the stop
// string and everything after it are dropped).
func (s *stopper) push(delta string) (string, bool) {
	if len(s.stops) == 0 {
		return delta, false
	}
	s.pending.WriteString(delta)
	p := s.pending.String()
	cut := -1
	for _, x := range s.stops {
		if i := strings.Index(p, x); i >= 0 && (cut < 0 || i < cut) {
			cut = i
		}
	}
	if cut >= 0 {
		s.pending.Reset()
		return p[:cut], true
	}
	// Keep the longest suffix that is a prefix of some stop string.
	keep := 0
	for _, x := range s.stops {
		for k := min(len(x)-1, len(p)); k > keep; k-- {
			if strings.HasPrefix(x, p[len(p)-k:]) {
				keep = k
				break
			}
		}
	}
	out := p[:len(p)-keep]
	rest := p[len(p)-keep:]
	s.pending.Reset()
	s.pending.WriteString(rest)
	return out, false
}

// flush returns whatever is held back (generation ended for another reason).
func (s *stopper) flush() string {
	out := s.pending.String()
	s.pending.Reset()
	return out
}
