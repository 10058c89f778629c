package main

import (
	"encoding/json"
	"testing"

	"github.com/krserve/krserve/internal/testenv"
)

func TestBenchE2E(t *testing.T) {
	gg := testenv.SharedFile(t, "models/stories260K.gguf")
	code, out, errOut := run(t, "", "bench", "e2e", "--model", gg, "--requests", "20", "--concurrency", "4", "--tokens", "4",
		"--tokenize-reps", "3", "--tokenize-bytes", "1024", "--threads", "1", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	checkShape(t, out, "ttft_ms", "ttft_ms.pipeline", "ttft_ms.pipeline.p50", "ttft_ms.pipeline.p99",
		"ttft_ms.inprocess", "ttft_ms.inprocess.p50", "ttft_ms.inprocess.p99",
		"tokens_per_s", "tokens_per_s.pipeline", "tokens_per_s.inprocess",
		"tokenize_ms", "tokenize_ms.batched", "tokenize_ms.sequential")
	var r e2eBench
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	for name, l := range map[string]latency{"pipeline": r.TTFTMs.Pipeline, "inprocess": r.TTFTMs.InProcess} {
		if !(l.P50 > 0) || l.P99 < l.P50 {
			t.Errorf("%s ttft %+v", name, l)
		}
	}
	if !(r.TokensPerS.Pipeline > 0) || !(r.TokensPerS.InProcess > 0) || !(r.TokenizeMs.Batched > 0) || !(r.TokenizeMs.Sequential > 0) {
		t.Errorf("result %+v", r)
	}
}

func TestBenchE2EUsage(t *testing.T) {
	gg := testenv.SharedFile(t, "models/stories260K.gguf")
	for _, args := range [][]string{
		{"--requests", "0", "--model", gg},
		{"--concurrency", "0", "--model", gg},
		{"--tokens", "0"},
		{},
	} {
		if code, _, errOut := run(t, "", append([]string{"bench", "e2e"}, args...)...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errOut)
		}
	}
}

func TestPercentile(t *testing.T) {
	xs := make([]float64, 100)
	for i := range xs {
		xs[i] = float64(100 - i) // 100 … 1, unsorted on purpose
	}
	for _, tc := range []struct {
		xs   []float64
		p    float64
		want float64
	}{
		{xs, 50, 50},
		{xs, 99, 99},
		{xs, 100, 100},
		{[]float64{7}, 99, 7},
		{[]float64{3, 1, 2}, 50, 2},
		{nil, 50, 0},
	} {
		if got := percentile(tc.xs, tc.p); got != tc.want {
			t.Errorf("percentile(%d values, %v) = %v, want %v", len(tc.xs), tc.p, got, tc.want)
		}
	}
	if xs[0] != 100 {
		t.Error("percentile reordered its input")
	}
}
