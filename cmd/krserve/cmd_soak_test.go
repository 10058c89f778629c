package main

import (
	"encoding/json"
	"testing"

	"github.com/krserve/krserve/internal/hardening"
	"github.com/krserve/krserve/internal/testenv"
)

func TestBenchSoak(t *testing.T) {
	gg := testenv.SharedFile(t, "models/stories260K.gguf")
	code, out, errOut := run(t, "", "bench", "soak", "--model", gg, "--duration", "3s", "--interval", "250ms", "--warmup", "1s",
		"--kv-mb", "2", "--engines", "1", "--threads", "1", "--tokens", "8", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, errOut, out)
	}
	var r hardening.SoakReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !r.Pass || r.Errors != 0 || r.Requests == 0 || r.Jobs == 0 || r.JobsDone != r.Jobs || len(r.Samples) < 8 {
		t.Errorf("report %+v", r)
	}
	for _, s := range r.Samples {
		if s.RSSKiB <= 0 || s.Goroutines <= 0 {
			t.Errorf("sample %+v", s)
		}
	}
}

func TestBenchSoakUsage(t *testing.T) {
	gg := testenv.SharedFile(t, "models/stories260K.gguf")
	for _, args := range [][]string{{}, {"--model", gg, "--duration", "10ms"}, {"--model", gg, "--engines", "0"}} {
		if code, _, errOut := run(t, "", append([]string{"bench", "soak"}, args...)...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errOut)
		}
	}
}
