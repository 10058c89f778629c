package gateway

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/krserve/krserve/engined/jobs"
	"github.com/krserve/krserve/internal/testenv"
	"github.com/krserve/krserve/schemas"
	"github.com/krserve/krserve/tokenizerd"
	"github.com/nats-io/nats.go/jetstream"
)

// nodeExamples returns examples/node with its dependencies installed. It
// fails (never skips) without node and npm: CI installs them, and a skip
// would hide that the other-language producers are untested.
func nodeExamples(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed: the Node examples in examples/node need Node.js ≥ 20 and npm (apt-get install nodejs npm): %v", tool, err)
		}
	}
	dir := filepath.Join(testenv.RepoRoot(t), "examples", "node")
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); errors.Is(err, os.ErrNotExist) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
		}
	}
	return dir
}

type nodeRun struct {
	code           int
	stdout, stderr string
}

func runNode(t *testing.T, dir string, env []string, args ...string) nodeRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := nodeRun{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("node %v: %v", args, err)
	}
	return r
}

// TestNodeExamples runs examples/node against a real pipeline: the OpenAI
// npm client against the gateway, and the NATS + msgpack producers
// (streaming generate, batch job) against the bus.
func TestNodeExamples(t *testing.T) {
	dir := nodeExamples(t)
	h := newHarness(t, harnessOpts{listen: true})
	natsURL := h.nats.ClientURL()
	env := []string{"KRSERVE_NATS_URL=" + natsURL, "KRSERVE_GATEWAY_URL=" + h.http.URL + "/v1", "KRSERVE_MODEL=" + modelName}
	startJobConsumer(t, h)
	ctx := context.Background()

	t.Run("openai client", func(t *testing.T) {
		r := runNode(t, dir, env, "--test", "--test-reporter=spec", "openai.test.mjs")
		if r.code != 0 || !strings.Contains(r.stdout, "pass 6") || !strings.Contains(r.stdout, "fail 0") {
			t.Fatalf("node --test openai.test.mjs: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
	})

	t.Run("generate", func(t *testing.T) {
		want, err := h.client.Complete(ctx, &schemas.GenerateRequest{Prompt: "Once upon a time", MaxTokens: 20})
		if err != nil {
			t.Fatal(err)
		}
		r := runNode(t, dir, env, "generate.mjs", "--prompt", "Once upon a time", "--max-tokens", "20")
		if r.code != 0 {
			t.Fatalf("generate.mjs: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		if !strings.HasPrefix(r.stdout, want.Text+"\n") {
			t.Errorf("streamed %q, want the pipeline's greedy output %q first", r.stdout, want.Text)
		}
		if !strings.Contains(r.stdout, "usage: prompt_tokens=") || !strings.Contains(r.stdout, "generated_tokens=20 finish_reason=length worker=e1") {
			t.Errorf("no usage line: %q", r.stdout)
		}
		chat := runNode(t, dir, env, "generate.mjs", "--chat", "Tell me a story", "--max-tokens", "8", "--conversation", "node-1")
		if chat.code != 0 || !strings.Contains(chat.stdout, "generated_tokens=8") {
			t.Errorf("generate.mjs --chat: exit %d\n%s\n%s", chat.code, chat.stdout, chat.stderr)
		}
		bad := runNode(t, dir, env, "generate.mjs", "--max-tokens", "100000")
		if bad.code != 1 || !strings.Contains(bad.stderr, "krserve error 400") {
			t.Errorf("max tokens beyond the context: exit %d, stderr %q (want 1 and a typed 400)", bad.code, bad.stderr)
		}
	})

	t.Run("job", func(t *testing.T) {
		want, err := h.client.Complete(ctx, &schemas.GenerateRequest{Prompt: "Lily went to the park", MaxTokens: 16})
		if err != nil {
			t.Fatal(err)
		}
		args := []string{"job.mjs", "--id", "node-job-1", "--prompt", "Lily went to the park", "--max-tokens", "16", "--timeout", "30000"}
		r := runNode(t, dir, env, args...)
		if r.code != 0 || !strings.Contains(r.stdout, "status: done") || !strings.Contains(r.stdout, "text: "+want.Text+"\n") {
			t.Fatalf("job.mjs: exit %d\n%s\n%s\nwant text %q", r.code, r.stdout, r.stderr, want.Text)
		}
		again := runNode(t, dir, env, append(args, "--no-wait")...)
		if again.code != 0 || !strings.Contains(again.stdout, "duplicate") {
			t.Errorf("resubmitting the same id must be deduplicated: exit %d\n%s\n%s", again.code, again.stdout, again.stderr)
		}
	})
}

// startJobConsumer sets up the job queue and runs the batch consumer of
// the harness's engine worker.
func startJobConsumer(t *testing.T, h *harness) {
	t.Helper()
	js, err := jetstream.New(h.nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jobs.Setup(context.Background(), js, jobs.Config{}); err != nil {
		t.Fatal(err)
	}
	eng := h.st.EngineCore[0]
	c, err := jobs.NewConsumer(jobs.ConsumerConfig{WorkerID: "e1", FetchWait: 100 * time.Millisecond, DrainTimeout: time.Second},
		jobs.ConsumerDeps{JS: js, Engine: h.st.Engines[0],
			Encoder: &tokenizerd.Encoder{Tok: h.st.Tokenizer, ModelID: modelName, BlockSize: eng.BlockSize(), ContextLen: h.st.ContextLen}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("job consumer: %v", err)
		}
	})
}
