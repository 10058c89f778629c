package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/krserve/krserve/bus"
	"github.com/krserve/krserve/config"
	"github.com/krserve/krserve/engined"
	"github.com/krserve/krserve/engined/jobs"
	"github.com/krserve/krserve/engined/llama"
	"github.com/krserve/krserve/internal/testenv"
	"github.com/krserve/krserve/tokenizerd"
	"github.com/krserve/krserve/tokenizerd/tokenizer"
	"github.com/nats-io/nats.go/jetstream"
)

// startJobEngine runs one stories260K engine worker with a job consumer on
// srv until the test ends.
func startJobEngine(t *testing.T, srv *bus.Server, id string) {
	t.Helper()
	path := testenv.SharedFile(t, "models/stories260K.gguf")
	m, err := llama.Load(path, llama.WithBackend("native", 1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	tok, err := tokenizer.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engined.NewEngine(m, tok, engined.DefaultEngineConfig("stories260k", config.DefaultRuntime().CPU.KVCachePool), nil)
	if err != nil {
		t.Fatal(err)
	}
	nc := testenv.Conn(t, srv)
	w, err := engined.NewWorker(engined.Config{WorkerID: id, Variant: "baseline", ModelName: "stories260k", DrainTimeout: 5 * time.Second},
		engined.Deps{NC: nc, Engine: eng})
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	c, err := jobs.NewConsumer(jobs.ConsumerConfig{WorkerID: id, FetchWait: 200 * time.Millisecond},
		jobs.ConsumerDeps{JS: js, Engine: w, Encoder: &tokenizerd.Encoder{Tok: tok, ModelID: "stories260k", BlockSize: eng.BlockSize(), ContextLen: m.Config().Context}})
	if err != nil {
		t.Fatal(err)
	}
	wctx, stopW := context.WithCancel(context.Background())
	cctx, stopC := context.WithCancel(context.Background())
	wDone, cDone := make(chan error, 1), make(chan error, 1)
	go func() { wDone <- w.Run(wctx) }()
	go func() { cDone <- c.Run(cctx) }()
	t.Cleanup(func() {
		stopC()
		if err := <-cDone; err != nil {
			t.Errorf("consumer: %v", err)
		}
		stopW()
		<-wDone
	})
}

func TestJobsCLI(t *testing.T) {
	srv, err := bus.NewServer(bus.ServerConfig{StoreDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	url := srv.ClientURL()
	js, err := jetstream.New(testenv.Conn(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jobs.Setup(context.Background(), js, jobs.Config{}); err != nil {
		t.Fatal(err)
	}

	// Queued before any engine runs: pending.
	code, out, stderr := run(t, "", "jobs", "submit", "--nats", url, "--id", "cli-1", "--prompt", "Once upon a time", "--max-tokens", "8")
	if code != 0 || !strings.Contains(out, "cli-1 queued on default") {
		t.Fatalf("submit: exit %d, %q, %q", code, out, stderr)
	}
	code, out, _ = run(t, "", "jobs", "submit", "--nats", url, "--id", "cli-1", "--prompt", "Once upon a time", "--json")
	var sub struct {
		ID        string `json:"id"`
		Duplicate bool   `json:"duplicate"`
	}
	if err := json.Unmarshal([]byte(out), &sub); code != 0 || err != nil || !sub.Duplicate || sub.ID != "cli-1" {
		t.Fatalf("resubmit: exit %d, %q (%v)", code, out, err)
	}
	code, out, _ = run(t, "", "jobs", "status", "cli-1", "--nats", url)
	if code != 0 || !strings.Contains(out, "cli-1: pending on queue default") {
		t.Fatalf("status of a queued job: exit %d, %q", code, out)
	}
	file := filepath.Join(t.TempDir(), "jobs.jsonl")
	body := `{"id":"cli-2","prompt":"The little dog","max_tokens":6,"metadata":{"batch":"b1"}}` + "\n\n" + `{"id":"cli-3","prompt":"Lily and Ben"}` + "\n"
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, stderr := run(t, "", "jobs", "submit", "--nats", url, "--file", file, "--queue", "nightly"); code != 0 || strings.Count(out, "queued on nightly") != 2 {
		t.Fatalf("submit --file: exit %d, %q, %q", code, out, stderr)
	}

	startJobEngine(t, srv, "cli-engine")
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for _, id := range []string{"cli-1", "cli-2", "cli-3"} {
		for ; ; <-tick.C {
			code, out, _ := run(t, "", "jobs", "status", id, "--json", "--nats", url)
			var st struct {
				State string `json:"state"`
			}
			if code == 0 && json.Unmarshal([]byte(out), &st) == nil && st.State == "done" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never finished: exit %d, %q", id, code, out)
			}
		}
	}
	code, out, stderr = run(t, "", "jobs", "results", "cli-1", "cli-2", "--json", "--nats", url)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 {
		t.Fatalf("results: exit %d, %q, %q", code, out, stderr)
	}
	for i, want := range []string{"cli-1", "cli-2"} {
		var r struct {
			ID     string `json:"id"`
			Status string `json:"status"`
			Text   string `json:"text"`
			Worker string `json:"worker"`
			Usage  struct {
				GeneratedTokens int `json:"generated_tokens"`
			} `json:"usage"`
			Metadata map[string]string `json:"metadata"`
		}
		if err := json.Unmarshal([]byte(lines[i]), &r); err != nil {
			t.Fatal(err)
		}
		if r.ID != want || r.Status != "done" || r.Text == "" || r.Worker != "cli-engine" || r.Usage.GeneratedTokens == 0 {
			t.Errorf("result %d = %+v", i, r)
		}
		if want == "cli-2" && (r.Metadata["batch"] != "b1" || r.Usage.GeneratedTokens > 6) {
			t.Errorf("cli-2 = %+v, want metadata from the file and at most 6 tokens", r)
		}
	}
	if code, out, _ := run(t, "", "jobs", "results", "--nats", url); code != 0 || strings.Count(out, ": done by cli-engine") != 3 {
		t.Errorf("all results: exit %d, %q", code, out)
	}
	if code, out, stderr := run(t, "", "jobs", "status", "nope", "--nats", url); code != 1 || !strings.Contains(out, "unknown") || !strings.Contains(stderr, "unknown job") {
		t.Errorf("unknown job: exit %d, %q, %q", code, out, stderr)
	}
	if code, _, stderr := run(t, "", "jobs", "results", "cli-1", "nope", "--nats", url); code != 1 || !strings.Contains(stderr, "no result") {
		t.Errorf("missing result: exit %d, %q", code, stderr)
	}
}

func TestJobsUsageErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	if err := os.WriteFile(bad, []byte(`{"id":"x","prompt":"hi","colour":"red"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args     []string
		code     int
		inStderr string
	}{
		{[]string{"jobs"}, 2, "name a subcommand"},
		{[]string{"jobs", "frob"}, 2, "unknown jobs subcommand"},
		{[]string{"jobs", "submit"}, 2, "either --prompt or --file"},
		{[]string{"jobs", "submit", "--prompt", "a", "--file", "f"}, 2, "either --prompt or --file"},
		{[]string{"jobs", "submit", "--prompt", "a", "--id", "has space"}, 2, "job.id"},
		{[]string{"jobs", "submit", "--prompt", "a", "extra"}, 2, "unexpected arguments"},
		{[]string{"jobs", "status"}, 2, "one job id"},
		{[]string{"jobs", "status", "a", "b"}, 2, "one job id"},
		{[]string{"jobs", "submit", "--file", bad}, 1, "unknown field"},
		{[]string{"jobs", "submit", "--prompt", "a", "--nats", "nats://127.0.0.1:1"}, 1, "connect"},
	}
	for _, tt := range tests {
		code, _, stderr := run(t, "", tt.args...)
		if code != tt.code || !strings.Contains(strings.ToLower(stderr), strings.ToLower(tt.inStderr)) {
			t.Errorf("krserve %v: exit %d, stderr %q; want exit %d containing %q", tt.args, code, stderr, tt.code, tt.inStderr)
		}
	}
}
