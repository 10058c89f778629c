package schemas

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

func TestRoundTrip(t *testing.T) {
	for _, s := range samples() {
		t.Run(s.name, func(t *testing.T) {
			b, err := Encode(s.msg)
			if err != nil {
				t.Fatal(err)
			}
			got := s.zero()
			if err := Decode(b, got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, s.msg) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, s.msg)
			}
		})
	}
}

// TestGolden pins the wire bytes of every message. When a change to a
// message is intended, regenerate with KRSERVE_UPDATE_GOLDEN=1 and review
// the diff: a changed golden file means producers in other languages break.
func TestGolden(t *testing.T) {
	for _, s := range samples() {
		t.Run(s.name, func(t *testing.T) {
			b, err := Encode(s.msg)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", s.name+".msgpack.hex")
			got := hex.Dump(b)
			if os.Getenv("KRSERVE_UPDATE_GOLDEN") != "" {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (KRSERVE_UPDATE_GOLDEN=1 creates it)", err)
			}
			if got != string(want) {
				t.Errorf("wire bytes changed for %s:\n-got\n%s\n+want\n%s", s.name, got, want)
			}
			// The golden bytes must also decode to the sample.
			raw, err := hex.DecodeString(hexBytes(string(want)))
			if err != nil {
				t.Fatal(err)
			}
			dec := s.zero()
			if err := Decode(raw, dec); err != nil {
				t.Fatalf("golden bytes do not decode: %v", err)
			}
		})
	}
}

// hexBytes extracts the hex digits from a hex.Dump listing.
func hexBytes(dump string) string {
	var out bytes.Buffer
	for _, line := range bytes.Split([]byte(dump), []byte("\n")) {
		if len(line) < 10 {
			continue
		}
		body := line[10:]
		if i := bytes.IndexByte(body, '|'); i >= 0 {
			body = body[:i]
		}
		out.Write(bytes.ReplaceAll(body, []byte(" "), nil))
	}
	return out.String()
}

func TestUnknownFieldsIgnored(t *testing.T) {
	b, err := msgpack.Marshal(map[string]any{"v": 1, "prompt": "hi", "future_field": []int{1, 2}, "x": map[string]any{"y": 1}})
	if err != nil {
		t.Fatal(err)
	}
	var r GenerateRequest
	if err := Decode(b, &r); err != nil {
		t.Fatalf("unknown fields must be ignored: %v", err)
	}
	if r.Prompt != "hi" {
		t.Errorf("prompt = %q", r.Prompt)
	}
}

func TestDecodeErrors(t *testing.T) {
	enc := func(v any) []byte {
		b, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name string
		in   []byte
		into Message
		want error
	}{
		{"empty", nil, &GenerateRequest{}, ErrInvalid},
		{"not msgpack", []byte{0xc1, 0x00}, &GenerateRequest{}, ErrInvalid},
		{"array not map", enc([]int{1, 2}), &GenerateRequest{}, ErrInvalid},
		{"wrong type", enc(map[string]any{"v": 1, "prompt": 12}), &GenerateRequest{}, ErrInvalid},
		{"missing version", enc(map[string]any{"prompt": "hi"}), &GenerateRequest{}, ErrVersion},
		{"future version", enc(map[string]any{"v": 2, "prompt": "hi"}), &GenerateRequest{}, ErrVersion},
		{"no prompt", enc(map[string]any{"v": 1}), &GenerateRequest{}, ErrInvalid},
		{"prompt and messages", enc(map[string]any{"v": 1, "prompt": "a", "messages": []map[string]string{{"role": "user", "content": "b"}}}), &GenerateRequest{}, ErrInvalid},
		{"bad role", enc(map[string]any{"v": 1, "messages": []map[string]string{{"role": "wizard", "content": "b"}}}), &GenerateRequest{}, ErrInvalid},
		{"negative max tokens", enc(map[string]any{"v": 1, "prompt": "a", "max_tokens": -1}), &GenerateRequest{}, ErrInvalid},
		{"top_p above 1", enc(map[string]any{"v": 1, "prompt": "a", "sampling": map[string]any{"top_p": 1.5}}), &GenerateRequest{}, ErrInvalid},
		{"negative temperature", enc(map[string]any{"v": 1, "prompt": "a", "sampling": map[string]any{"temperature": -1}}), &GenerateRequest{}, ErrInvalid},
		{"id with dot", enc(map[string]any{"v": 1, "prompt": "a", "id": "a.b"}), &GenerateRequest{}, ErrInvalid},
		{"wildcard token subject", enc(map[string]any{"v": 1, "prompt": "a", "token_subject": "krserve.>"}), &GenerateRequest{}, ErrInvalid},
		{"stream bad kind", enc(map[string]any{"v": 1, "id": "r", "kind": "nope"}), &StreamMsg{}, ErrInvalid},
		{"final without usage", enc(map[string]any{"v": 1, "id": "r", "kind": "final", "finish_reason": "stop"}), &StreamMsg{}, ErrInvalid},
		{"engine without ids", enc(map[string]any{"v": 1, "id": "r", "stream": "s"}), &EngineRequest{}, ErrInvalid},
		{"engine negative id", enc(map[string]any{"v": 1, "id": "r", "stream": "s", "prompt_ids": []int{1, -3}}), &EngineRequest{}, ErrInvalid},
		{"heartbeat no worker", enc(map[string]any{"v": 1, "role": "engine", "state": "ready", "interval_ms": 1}), &Heartbeat{}, ErrInvalid},
		{"metric errors > requests", enc(map[string]any{"v": 1, "variant": "a", "worker": "w", "requests": 1, "errors": 2}), &MetricEvent{}, ErrInvalid},
		{"job without request", enc(map[string]any{"v": 1, "id": "j"}), &Job{}, ErrInvalid},
		{"failed result without error", enc(map[string]any{"v": 1, "job_id": "j", "status": "failed"}), &JobResult{}, ErrInvalid},
		{"tokenize empty", enc(map[string]any{"v": 1}), &TokenizeRequest{}, ErrInvalid},
		{"error bad code", enc(map[string]any{"v": 1, "code": 7}), &Error{}, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Decode(tt.in, tt.into); !errors.Is(err, tt.want) {
				t.Errorf("Decode = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestErrorIs(t *testing.T) {
	err := error(NewError(CodeOverloaded, "queue full"))
	if !errors.Is(err, ErrOverloaded) {
		t.Error("Is by code failed")
	}
	if errors.Is(err, ErrNoWorker) {
		t.Error("different codes matched")
	}
	if !NewError(CodeNoWorker, "").Retryable || NewError(CodeBadRequest, "").Retryable {
		t.Error("retryable derived wrongly")
	}
	if got := AsError(Decode(nil, &GenerateRequest{})); got.Code != CodeBadRequest {
		t.Errorf("AsError(invalid) = %v", got)
	}
	if got := AsError(errors.New("boom")); got.Code != CodeInternal {
		t.Errorf("AsError(other) = %v", got)
	}
}
