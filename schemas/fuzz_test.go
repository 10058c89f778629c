package schemas

import (
	"errors"
	"testing"
)

// fuzzDecode seeds the corpus with the golden samples of the type and checks
// that Decode never panics, fails only with typed errors, and that whatever
// decodes re-encodes and decodes to the same value.
func fuzzDecode(f *testing.F, zero func() Message) {
	probe := zero()
	for _, s := range samples() {
		if sameType(s.zero(), probe) {
			if b, err := Encode(s.msg); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte{0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		m := zero()
		if err := Decode(b, m); err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrVersion) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		again, err := Encode(m)
		if err != nil {
			t.Fatalf("decoded message does not re-encode: %v", err)
		}
		if err := Decode(again, zero()); err != nil {
			t.Fatalf("re-encoded message does not decode: %v", err)
		}
	})
}

func sameType(a, b Message) bool {
	switch a.(type) {
	case *GenerateRequest:
		_, ok := b.(*GenerateRequest)
		return ok
	case *StreamMsg:
		_, ok := b.(*StreamMsg)
		return ok
	case *Error:
		_, ok := b.(*Error)
		return ok
	case *Cancel:
		_, ok := b.(*Cancel)
		return ok
	case *EngineRequest:
		_, ok := b.(*EngineRequest)
		return ok
	case *KVEvents:
		_, ok := b.(*KVEvents)
		return ok
	case *Heartbeat:
		_, ok := b.(*Heartbeat)
		return ok
	case *MetricEvent:
		_, ok := b.(*MetricEvent)
		return ok
	case *Job:
		_, ok := b.(*Job)
		return ok
	case *JobResult:
		_, ok := b.(*JobResult)
		return ok
	case *TokenizeRequest:
		_, ok := b.(*TokenizeRequest)
		return ok
	case *TokenizeResponse:
		_, ok := b.(*TokenizeResponse)
		return ok
	case *DetokenizeRequest:
		_, ok := b.(*DetokenizeRequest)
		return ok
	case *DetokenizeResponse:
		_, ok := b.(*DetokenizeResponse)
		return ok
	}
	return false
}

func FuzzGenerateRequest(f *testing.F) { fuzzDecode(f, func() Message { return &GenerateRequest{} }) }
func FuzzStreamMsg(f *testing.F)       { fuzzDecode(f, func() Message { return &StreamMsg{} }) }
func FuzzError(f *testing.F)           { fuzzDecode(f, func() Message { return &Error{} }) }
func FuzzCancel(f *testing.F)          { fuzzDecode(f, func() Message { return &Cancel{} }) }
func FuzzEngineRequest(f *testing.F)   { fuzzDecode(f, func() Message { return &EngineRequest{} }) }
func FuzzKVEvents(f *testing.F)        { fuzzDecode(f, func() Message { return &KVEvents{} }) }
func FuzzHeartbeat(f *testing.F)       { fuzzDecode(f, func() Message { return &Heartbeat{} }) }
func FuzzMetricEvent(f *testing.F)     { fuzzDecode(f, func() Message { return &MetricEvent{} }) }
func FuzzJob(f *testing.F)             { fuzzDecode(f, func() Message { return &Job{} }) }
func FuzzJobResult(f *testing.F)       { fuzzDecode(f, func() Message { return &JobResult{} }) }
func FuzzTokenizeRequest(f *testing.F) { fuzzDecode(f, func() Message { return &TokenizeRequest{} }) }
func FuzzTokenizeResponse(f *testing.F) {
	fuzzDecode(f, func() Message { return &TokenizeResponse{} })
}
func FuzzDetokenizeRequest(f *testing.F) {
	fuzzDecode(f, func() Message { return &DetokenizeRequest{} })
}
func FuzzDetokenizeResponse(f *testing.F) {
	fuzzDecode(f, func() Message { return &DetokenizeResponse{} })
}
