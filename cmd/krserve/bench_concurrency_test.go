package main

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/krserve/krserve/internal/testenv"
)

func TestBenchConcurrency(t *testing.T) {
	gg := testenv.SharedFile(t, "models/stories260K.gguf")
	code, out, errOut := run(t, "", "bench", "concurrency", "--model", gg, "--tokens", "8", "--sequential", "2", "--reps", "1", "--threads", "1", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	checkShape(t, out, "streams", "streams[].n", "streams[].tokens_per_s", "sequential_tokens_per_s")
	var r concurrencyBench
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Streams) != 3 || r.Streams[0].N != 1 || r.Streams[1].N != 4 || r.Streams[2].N != 10 {
		t.Fatalf("streams %+v, want n = 1, 4, 10", r.Streams)
	}
	for _, s := range append(r.Streams, streamRate{N: 0, TokensPerS: r.SequentialTokensPerS}) {
		if !(s.TokensPerS > 0) || math.IsInf(s.TokensPerS, 0) {
			t.Errorf("n=%d: %v tokens/s", s.N, s.TokensPerS)
		}
	}
}

func TestBenchConcurrencyUsage(t *testing.T) {
	gg := testenv.SharedFile(t, "models/stories260K.gguf")
	for _, args := range [][]string{
		{"--streams", "1,0"},
		{"--streams", "four"},
		{"--streams", "65"},
		{"--tokens", "1"},
		{"--tokens", "600"},
	} {
		if code, _, errOut := run(t, "", append([]string{"bench", "concurrency", "--model", gg}, args...)...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errOut)
		}
	}
}

func TestDecodeRate(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms ...int) []time.Time {
		out := make([]time.Time, len(ms))
		for i, m := range ms {
			out[i] = t0.Add(time.Duration(m) * time.Millisecond)
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		streams [][]time.Time
		want    float64
		wantErr bool
	}{
		// One stream: 4 tokens after the first over 40 ms.
		{"one stream", [][]time.Time{at(0, 10, 20, 30, 40)}, 100, false},
		// The window opens at the later first token (10 ms) and closes at
		// the last token (50 ms); 3 + 4 tokens come after 10 ms.
		{"two streams", [][]time.Time{at(0, 20, 30, 40), at(10, 20, 30, 40, 50)}, 175, false},
		{"no tokens", [][]time.Time{at()}, 0, true},
		{"first token only", [][]time.Time{at(5)}, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rs []*benchResult
			for _, s := range tc.streams {
				rs = append(rs, &benchResult{times: s})
			}
			got, err := decodeRate(rs)
			if (err != nil) != tc.wantErr || math.Abs(got-tc.want) > 1e-9 {
				t.Fatalf("decodeRate = %v, %v; want %v (error %v)", got, err, tc.want, tc.wantErr)
			}
		})
	}
}
