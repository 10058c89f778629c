package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/krserve/krserve/internal/testenv"
	"github.com/krserve/krserve/schemas"
)

// syncBuffer is a bytes.Buffer safe for a command writing while a test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// run executes the CLI in-process and returns exit code, stdout and stderr.
func run(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb syncBuffer
	code := runMain(context.Background(), &cmdEnv{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb}, args)
	return code, out.String(), errb.String()
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		inStderr string
	}{
		{nil, 2, ""},
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"version", "--nope"}, 2, "flag provided but not defined"},
		{[]string{"version", "extra"}, 2, "unexpected arguments"},
		{[]string{"up", "--listen"}, 2, "flag needs an argument"},
		{[]string{"bench"}, 2, "name a benchmark"},
		{[]string{"bench", "nonesuch"}, 2, "unknown benchmark"},
	}
	for _, tt := range tests {
		code, _, stderr := run(t, "", tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.inStderr) {
			t.Errorf("krserve %v: exit %d, stderr %q; want exit %d containing %q", tt.args, code, stderr, tt.code, tt.inStderr)
		}
	}
	if code, out, _ := run(t, "", "help"); code != 0 || !strings.Contains(out, "up ") || !strings.Contains(out, "version") {
		t.Errorf("help: %d %q", code, out)
	}
	if code, out, _ := run(t, "", "version"); code != 0 || !strings.HasPrefix(out, "krserve ") {
		t.Errorf("version: %d %q", code, out)
	}
}

// startUp runs `krserve up` in-process and returns the contents of its ready
// file. The process stops when the test ends.
func startUp(t *testing.T, extra ...string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	ready := filepath.Join(dir, "ready.json")
	ctx, cancel := context.WithCancel(context.Background())
	var errb syncBuffer
	done := make(chan struct{})
	code := 0
	args := append([]string{"up", "--listen", "127.0.0.1:0", "--metrics", "127.0.0.1:0", "--data-dir", dir, "--ready-file", ready,
		"--model", testenv.SharedFile(t, "models/stories260K.gguf"), "--engines", "1", "--http", "127.0.0.1:0"}, extra...)
	go func() {
		defer close(done)
		code = runMain(ctx, &cmdEnv{stdin: strings.NewReader(""), stdout: &errb, stderr: &errb}, args)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		if code != 0 && code != 130 {
			t.Errorf("up exited %d: %s", code, errb.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if b, err := os.ReadFile(ready); err == nil {
			var info map[string]string
			if err := json.Unmarshal(b, &info); err != nil {
				t.Fatal(err)
			}
			return info
		}
		select {
		case <-done:
			t.Fatalf("up exited %d before ready: %s", code, errb.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("up not ready: %s", errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// natsCLI finds the nats CLI that `make tools` installs.
func natsCLI(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("nats"); err == nil {
		return p
	}
	gopath, _ := exec.Command("go", "env", "GOPATH").Output()
	p := filepath.Join(strings.TrimSpace(string(gopath)), "bin", "nats")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("the nats CLI is not installed: run `make tools` (go install github.com/nats-io/natscli/nats@v0.5.0)")
	}
	return p
}

func TestUpWithNatsCLI(t *testing.T) {
	info := startUp(t)
	url := info["nats_url"]
	if !strings.HasPrefix(url, "nats://127.0.0.1:") {
		t.Fatalf("ready file: %v", info)
	}
	out, err := exec.Command(natsCLI(t), "--server", url, "micro", "ls").CombinedOutput()
	if err != nil {
		t.Fatalf("nats micro ls: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "krserve") {
		t.Errorf("nats micro ls does not list krserve:\n%s", out)
	}
}

// TestUpServesGenerate drives the one-process stack through the CLI: up,
// then generate against its NATS URL, then the nats CLI on the tokenize
// subject.
func TestUpServesGenerate(t *testing.T) {
	info := startUp(t)
	code, out, stderr := run(t, "", "generate", "--nats", info["nats_url"], "--prompt", "Once upon a time", "--max-tokens", "12", "--json")
	if code != 0 {
		t.Fatalf("generate exit %d: %s", code, stderr)
	}
	var res struct {
		Text         string `json:"text"`
		FinishReason string `json:"finish_reason"`
		Usage        struct {
			Generated int `json:"generated_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Usage.Generated != 12 || res.Text == "" {
		t.Fatalf("generate output %q: %v", out, err)
	}
	// nats req on the tokenize subject returns ids (msgpack in, msgpack out:
	// check the reply decodes as a TokenizeResponse via the CLI's raw output).
	req, _ := schemas.Encode(&schemas.TokenizeRequest{V: 1, Texts: []string{"Once upon a time"}})
	cmd := exec.Command(natsCLI(t), "--server", info["nats_url"], "req", "krserve.v1.tokenize", string(req), "--raw")
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("nats req: %v", err)
	}
	var resp schemas.TokenizeResponse
	if err := schemas.Decode(raw, &resp); err != nil || len(resp.IDs) != 1 || len(resp.IDs[0]) == 0 {
		t.Fatalf("nats req tokenize reply %q: %v %+v", raw, err, resp)
	}
	// The OpenAI gateway started by up answers too.
	hr, err := http.Post("http://"+info["http_addr"]+"/v1/completions", "application/json",
		strings.NewReader(`{"model":"stories260K","prompt":"Once upon a time","max_tokens":5,"temperature":0}`))
	if err != nil {
		t.Fatal(err)
	}
	defer hr.Body.Close()
	body, _ := io.ReadAll(hr.Body)
	if hr.StatusCode != 200 || !strings.Contains(string(body), `"completion_tokens":5`) {
		t.Errorf("gateway: %d %s", hr.StatusCode, body)
	}
}

// TestUpRunsJobs: a batch job submitted through the CLI is served by the
// engines of `krserve up`.
func TestUpRunsJobs(t *testing.T) {
	info := startUp(t)
	url := info["nats_url"]
	if code, _, stderr := run(t, "", "jobs", "submit", "--nats", url, "--id", "job-up-1", "--prompt", "Once upon a time", "--max-tokens", "6"); code != 0 {
		t.Fatalf("jobs submit: %d %s", code, stderr)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, out, _ := run(t, "", "jobs", "results", "--nats", url, "--json", "job-up-1")
		if code == 0 && strings.Contains(out, `"done"`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job not done: %s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
