package sample

import (
	"errors"
	"strings"
	"testing"
)

func TestStopperStrings(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    StopConfig
		pieces []string
		ids    []int32
		want   string
		reason FinishReason
		pushed int // Push calls before done
	}{
		{"within one piece", StopConfig{Strings: []string{"END"}}, []string{"a", "bENDc", "d"}, nil, "ab", FinishStop, 2},
		{"across pieces", StopConfig{Strings: []string{"</s>"}}, []string{"hi <", "/", "s", ">", "x"}, nil, "hi ", FinishStop, 4},
		{"false start is released", StopConfig{Strings: []string{"abc"}}, []string{"ab", "d", "abc"}, nil, "abd", FinishStop, 3},
		{"earliest of several", StopConfig{Strings: []string{"yz", "x"}}, []string{"1xyz"}, nil, "1", FinishStop, 1},
		{"stop id", StopConfig{IDs: []int32{7}}, []string{"a", "b", "c"}, []int32{1, 7, 2}, "a", FinishStop, 2},
		{"stop id flushes held text", StopConfig{IDs: []int32{7}, Strings: []string{"xyz"}}, []string{"ax", "q"}, []int32{1, 7}, "ax", FinishStop, 2},
		{"max tokens", StopConfig{MaxTokens: 2}, []string{"a", "b", "c"}, nil, "ab", FinishLength, 2},
		{"max tokens releases partial stop", StopConfig{MaxTokens: 2, Strings: []string{"bc"}}, []string{"a", "b", "c"}, nil, "ab", FinishLength, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewStopper(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			var got strings.Builder
			n := 0
			for i, p := range tc.pieces {
				id := int32(100)
				if tc.ids != nil {
					id = tc.ids[i]
				}
				emit, done := s.Push(id, p)
				got.WriteString(emit)
				n++
				if done {
					break
				}
			}
			if !s.Done() {
				got.WriteString(s.Finish(FinishLength))
			}
			if got.String() != tc.want || s.Reason() != tc.reason || n != tc.pushed {
				t.Fatalf("text %q reason %q after %d pushes; want %q %q %d", got.String(), s.Reason(), n, tc.want, tc.reason, tc.pushed)
			}
			if e, done := s.Push(5, "more"); e != "" || !done {
				t.Fatal("Push after done returned text")
			}
		})
	}
}

func TestStopConfigValidate(t *testing.T) {
	if _, err := NewStopper(StopConfig{MaxTokens: -1}); !errors.Is(err, ErrMaxTokens) {
		t.Fatalf("negative max: %v", err)
	}
	if _, err := NewStopper(StopConfig{Strings: []string{"ok", ""}}); !errors.Is(err, ErrStopString) {
		t.Fatalf("empty stop: %v", err)
	}
}

// Whatever the split of a text into pieces, the emitted text is the text
// up to the first stop string, or all of it.
func FuzzStopper(f *testing.F) {
	f.Add("Once upon a time</s> there", "</s>", uint8(3))
	f.Add("aaaab", "aab", uint8(1))
	f.Add("héllo wörld", "ö", uint8(2))
	f.Fuzz(func(t *testing.T, text, stop string, step uint8) {
		if stop == "" {
			return
		}
		s, err := NewStopper(StopConfig{Strings: []string{stop}})
		if err != nil {
			t.Fatal(err)
		}
		k := int(step%7) + 1
		var got strings.Builder
		for i := 0; i < len(text) && !s.Done(); i += k {
			e, _ := s.Push(0, text[i:min(len(text), i+k)])
			got.WriteString(e)
		}
		got.WriteString(s.Finish(FinishLength))
		want := text
		if i := strings.Index(text, stop); i >= 0 {
			want = text[:i]
		}
		if got.String() != want {
			t.Fatalf("text %q stop %q step %d: got %q, want %q", text, stop, k, got.String(), want)
		}
	})
}
