package main

import (
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/krserve/krserve/internal/testenv"
)

// abtestShape is the pinned key set of `krserve abtest --json`.
func abtestShape() []string {
	keys := []string{"model", "samples", "turns", "max_tokens", "concurrency", "alpha", "metrics", "per_turn", "recommendation", "reason",
		"per_turn[].turn"}
	for _, side := range []string{"baseline", "candidate"} {
		keys = append(keys, side)
		for _, k := range []string{"config", "requests", "errors", "cached_tokens_mean", "prompt_tokens_mean"} {
			keys = append(keys, side+"."+k)
		}
		keys = append(keys, "per_turn[]."+side)
		for _, k := range []string{"n", "ttft_ms", "prompt_tokens", "cached_tokens"} {
			keys = append(keys, "per_turn[]."+side+"."+k)
		}
	}
	for _, m := range []string{"ttft_ms", "total_ms", "tokens_per_s", "error_rate"} {
		p := "metrics." + m
		keys = append(keys, p)
		for _, k := range []string{"higher_is_better", "diff", "diff_ci_low", "diff_ci_high", "improvement_pct", "tolerance_pct", "test", "p", "significant", "verdict", "note"} {
			keys = append(keys, p+"."+k)
		}
		for _, side := range []string{"baseline", "candidate"} {
			keys = append(keys, p+"."+side)
			for _, k := range []string{"n", "mean", "median", "ci_low", "ci_high"} {
				keys = append(keys, p+"."+side+"."+k)
			}
		}
	}
	return keys
}

type abtestOut struct {
	Samples   int        `json:"samples"`
	Baseline  abtestSide `json:"baseline"`
	Candidate abtestSide `json:"candidate"`
	Metrics   map[string]struct {
		Test        string   `json:"test"`
		P           *float64 `json:"p"`
		Verdict     string   `json:"verdict"`
		Significant bool     `json:"significant"`
		Baseline    struct {
			N    int      `json:"n"`
			Mean *float64 `json:"mean"`
		} `json:"baseline"`
	} `json:"metrics"`
	PerTurn []struct {
		Turn      int         `json:"turn"`
		Baseline  abtestTurnS `json:"baseline"`
		Candidate abtestTurnS `json:"candidate"`
	} `json:"per_turn"`
	Recommendation string `json:"recommendation"`
}

type abtestTurnS struct {
	N            int     `json:"n"`
	TTFTMs       float64 `json:"ttft_ms"`
	CachedTokens float64 `json:"cached_tokens"`
}

// TestABTest runs `krserve abtest` end to end on stories260K: two
// pipelines (pool off / pool and parallel tokenizer on) on one embedded
// NATS, 40 requests each in 5-turn chats.
func TestABTest(t *testing.T) {
	gg := testenv.SharedFile(t, "models/stories260K.gguf")
	pngPath := filepath.Join(t.TempDir(), "ab.png")
	code, out, errOut := run(t, "", "abtest", "--baseline", "../../config/baseline.yaml", "--optimized", "../../config/optimized.yaml",
		"--model", gg, "--samples", "40", "--threads", "1", "--json", "--plot", pngPath)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	checkShape(t, out, abtestShape()...)
	if !strings.Contains(errOut, "abtest [") || !strings.Contains(errOut, "80/80") {
		t.Errorf("no progress bar on stderr: %q", errOut)
	}
	var r abtestOut
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.Samples != 40 || r.Baseline.Requests != 40 || r.Candidate.Requests != 40 || r.Baseline.Errors != 0 || r.Candidate.Errors != 0 {
		t.Fatalf("requests/errors: %+v %+v", r.Baseline, r.Candidate)
	}
	switch r.Recommendation {
	case "DEPLOY", "REJECT", "INCONCLUSIVE":
	default:
		t.Errorf("recommendation %q", r.Recommendation)
	}
	wantTest := map[string]string{"ttft_ms": "mannwhitney", "total_ms": "mannwhitney", "tokens_per_s": "welch", "error_rate": "fisher"}
	for m, test := range wantTest {
		x, ok := r.Metrics[m]
		if !ok || x.Test != test || x.P == nil || *x.P < 0 || *x.P > 1 || x.Baseline.Mean == nil {
			t.Errorf("%s: %+v", m, x)
		}
	}
	if n := r.Metrics["ttft_ms"].Baseline.N; n != 40 {
		t.Errorf("ttft baseline n = %d", n)
	}
	if len(r.PerTurn) != 5 {
		t.Fatalf("%d turns", len(r.PerTurn))
	}
	// The baseline has no pool: nothing is ever cached. The candidate's
	// later turns find their history in the pool, which makes their
	// prefill (and so their time to first token) shorter than the
	// baseline's full prefill of the same prompt.
	for _, pt := range r.PerTurn {
		if pt.Baseline.CachedTokens != 0 {
			t.Errorf("turn %d: baseline without a pool cached %.0f tokens", pt.Turn, pt.Baseline.CachedTokens)
		}
		if pt.Turn >= 2 && pt.Candidate.CachedTokens < 32 {
			t.Errorf("turn %d: candidate cached only %.0f tokens", pt.Turn, pt.Candidate.CachedTokens)
		}
	}
	last := r.PerTurn[4]
	if !(last.Candidate.TTFTMs < last.Baseline.TTFTMs) {
		t.Errorf("turn 5: candidate TTFT %.2f ms not below the baseline's %.2f ms", last.Candidate.TTFTMs, last.Baseline.TTFTMs)
	}
	t.Logf("turn 5 TTFT: baseline %.2f ms, candidate %.2f ms (%.0f tokens cached); recommendation %s",
		last.Baseline.TTFTMs, last.Candidate.TTFTMs, last.Candidate.CachedTokens, r.Recommendation)
	f, err := os.Open(pngPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("--plot wrote no PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 400 || b.Dy() < 300 {
		t.Errorf("plot is %v", b)
	}
}

func TestABTestText(t *testing.T) {
	gg := testenv.SharedFile(t, "models/stories260K.gguf")
	code, out, errOut := run(t, "", "abtest", "--baseline", "../../config/baseline.yaml", "--candidate", "../../config/baseline.yaml",
		"--model", gg, "--samples", "10", "--turns", "2", "--threads", "1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"ttft_ms", "total_ms", "tokens_per_s", "error_rate", "mean ± 95% CI", "recommendation: INCONCLUSIVE (too few samples"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestABTestUsage(t *testing.T) {
	gg := testenv.SharedFile(t, "models/stories260K.gguf")
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("cpu_optimizations:\n  kv_cache_pool:\n    block_size: 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		code     int
		inStderr string
	}{
		{"no configs", []string{"--model", gg}, 2, "--baseline and --candidate are required"},
		{"no candidate", []string{"--baseline", "../../config/baseline.yaml", "--model", gg}, 2, "required"},
		{"zero samples", []string{"--baseline", "../../config/baseline.yaml", "--candidate", "../../config/optimized.yaml", "--samples", "0", "--model", gg}, 2, "samples"},
		{"bad alpha", []string{"--baseline", "../../config/baseline.yaml", "--candidate", "../../config/optimized.yaml", "--alpha", "0.7", "--model", gg}, 2, "Alpha"},
		{"invalid runtime file", []string{"--baseline", bad, "--candidate", "../../config/optimized.yaml", "--model", gg}, 1, "block_size"},
		{"missing runtime file", []string{"--baseline", "nonesuch.yaml", "--candidate", "../../config/optimized.yaml", "--model", gg}, 1, "nonesuch.yaml"},
		{"chat beyond the context", []string{"--baseline", "../../config/baseline.yaml", "--candidate", "../../config/optimized.yaml", "--model", gg,
			"--turns", "40", "--tokens", "64", "--samples", "40"}, 2, "context"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := run(t, "", append([]string{"abtest"}, tc.args...)...)
			if code != tc.code || !strings.Contains(errOut, tc.inStderr) {
				t.Fatalf("exit %d, stderr %q; want exit %d mentioning %q", code, errOut, tc.code, tc.inStderr)
			}
		})
	}
}
