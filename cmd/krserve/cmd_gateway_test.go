package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/krserve/krserve/internal/stack"
)

func TestGatewayCommand(t *testing.T) {
	srv, _ := startListeningStack(t, []stack.EngineSpec{{ID: "e1", Variant: "baseline"}}, false)
	dir := t.TempDir()
	ready := filepath.Join(dir, "ready.json")
	keys := filepath.Join(dir, "keys")
	if err := os.WriteFile(keys, []byte("# keys\nsk-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- runMain(ctx, &cmdEnv{stdin: strings.NewReader(""), stdout: &errb, stderr: &errb},
			[]string{"gateway", "--nats", srv.ClientURL(), "--http", "127.0.0.1:0", "--api-key", "sk-flag", "--api-key-file", keys,
				"--metrics", "", "--ready-file", ready})
	}()
	var info map[string]string
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(20 * time.Second)
	for info == nil {
		select {
		case code := <-done:
			t.Fatalf("gateway exited %d: %s", code, errb.String())
		case <-deadline:
			t.Fatalf("gateway not ready: %s", errb.String())
		case <-tick.C:
			if b, err := os.ReadFile(ready); err == nil {
				if err := json.Unmarshal(b, &info); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if info["model"] != "stories260k" {
		t.Errorf("model discovered from heartbeats: %q", info["model"])
	}
	base := "http://" + info["http_addr"] + "/v1"
	call := func(method, path, key, body string) (int, string) {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := call("GET", "/models", "", ""); code != 401 {
		t.Errorf("no key: %d %s", code, body)
	}
	if code, body := call("GET", "/models", "sk-file", ""); code != 200 || !strings.Contains(body, `"id":"stories260k"`) {
		t.Errorf("models: %d %s", code, body)
	}
	code, body := call("POST", "/chat/completions", "sk-flag", `{"messages":[{"role":"user","content":"Hi"}],"max_tokens":5,"temperature":0}`)
	if code != 200 || !strings.Contains(body, `"completion_tokens":5`) {
		t.Errorf("chat: %d %s", code, body)
	}
	cancel()
	if code := <-done; code != 0 && code != 130 {
		t.Errorf("gateway exit %d after shutdown: %s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "serving stories260k at http://") {
		t.Errorf("no ready line: %s", errb.String())
	}
}

func TestGatewayCommandErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"bad http address", []string{"gateway", "--nats", "nats://127.0.0.1:1", "--http", "nonsense"}, 2, "--http"},
		{"no NATS", []string{"gateway", "--nats", "nats://127.0.0.1:1", "--model-name", "m"}, 1, "127.0.0.1:1"},
		{"empty key file", []string{"gateway", "--api-key-file", os.DevNull}, 1, "holds no key"},
		{"stray argument", []string{"gateway", "extra"}, 2, "unexpected arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := run(t, "", tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.msg) {
				t.Errorf("exit %d (want %d), stderr %q (want %q)", code, tc.code, stderr, tc.msg)
			}
		})
	}
}
