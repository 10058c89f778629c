package schemas

// samples returns one fully populated instance of every message, keyed by
// the golden file name. The factory returns a fresh zero value to decode into.
func samples() []struct {
	name string
	msg  Message
	zero func() Message
} {
	bos := true
	req := GenerateRequest{
		V: Version, ID: "req-1", Model: "stories260k", Prompt: "Once upon a time",
		ConversationID: "conv-7",
		Sampling:       Sampling{Temperature: 0.7, TopK: 40, TopP: 0.9, MinP: 0.05, RepetitionPenalty: 1.1, Seed: 42},
		Stop:           []string{"\n\n"}, StopIDs: []int32{2}, MaxTokens: 64,
		TokenSubject: "krserve.v1.tokens.req-1", Priority: 5, DeadlineUnixMs: 1767225600000,
		CacheSalt: "tenant-a", AddBOS: &bos,
	}
	usage := &Usage{PromptTokens: 12, CachedTokens: 8, GeneratedTokens: 30}
	return []struct {
		name string
		msg  Message
		zero func() Message
	}{
		{"generate_request", &req, func() Message { return &GenerateRequest{} }},
		{"generate_request_chat", &GenerateRequest{V: Version, ID: "req-2", Messages: []ChatMessage{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Hi"}}}, func() Message { return &GenerateRequest{} }},
		{"stream_token", &StreamMsg{V: Version, Kind: KindToken, RequestID: "req-1", Seq: 3, IDs: []int32{1, 2, 3}, Text: "abc"}, func() Message { return &StreamMsg{} }},
		{"stream_final", &StreamMsg{V: Version, Kind: KindFinal, RequestID: "req-1", Seq: 31, FinishReason: FinishLength, Usage: usage,
			Timings: &Timings{QueueUs: 10, TokenizeUs: 20, PrefillUs: 300, TTFTUs: 400, TotalUs: 5000}, Worker: "engine-a", Variant: "baseline"}, func() Message { return &StreamMsg{} }},
		{"stream_error", &StreamMsg{V: Version, Kind: KindError, RequestID: "req-1", Seq: 0, Error: NewError(CodeOverloaded, "queue full (64)")}, func() Message { return &StreamMsg{} }},
		{"error", NewError(CodeBadRequest, "prompt is empty"), func() Message { return &Error{} }},
		{"cancel", &Cancel{V: Version, RequestID: "req-1", Reason: "client gone"}, func() Message { return &Cancel{} }},
		{"engine_request", &EngineRequest{V: Version, RequestID: "req-1", Model: "stories260k", PromptIDs: []int32{1, 403, 407}, BlockHashes: []uint64{0xdeadbeefcafe},
			ConversationID: "conv-7", Sampling: req.Sampling, Stop: req.Stop, StopIDs: req.StopIDs, MaxTokens: 64,
			StreamSubject: "_INBOX.abc", Priority: 5, DeadlineUnixMs: 1767225600000, CacheSalt: "tenant-a", Variant: "canary",
			ReceivedUnixUs: 1767225600000000, TokenizeUs: 120, JobID: "job-1", Attempt: 2}, func() Message { return &EngineRequest{} }},
		{"kv_events", &KVEvents{V: Version, Worker: "engine-a", Variant: "baseline", Seq: 9, BlockSize: 16,
			Events: []KVEvent{{Kind: KVStored, Hash: 11, Parent: 0}, {Kind: KVStored, Hash: 12, Parent: 11}, {Kind: KVRemoved, Hash: 12, Parent: 11}}}, func() Message { return &KVEvents{} }},
		{"heartbeat", &Heartbeat{V: Version, Role: "engine", Worker: "engine-a", Variant: "baseline", Model: "stories260k", State: StateReady, IntervalMs: 1000,
			Running: 3, Waiting: 1, QueueCap: 64, FreeBlocks: 100, TotalBlocks: 128, BlockSize: 16, Subject: "krserve.v1.engine.baseline.engine-a", SentUnixMs: 1767225600000}, func() Message { return &Heartbeat{} }},
		{"metric_event", &MetricEvent{V: Version, Variant: "canary", Worker: "engine-b", Seq: 4, StartUnixMs: 1000, EndUnixMs: 2000, Requests: 3, Errors: 1, Tokens: 90,
			TTFTMs: []float32{1.5, 2.5}, ITLMs: []float32{0.5}, TokensPerSec: []float32{900}, E2EMs: []float32{30}, CachedFraction: []float32{0.5}}, func() Message { return &MetricEvent{} }},
		{"job", &Job{V: Version, ID: "job-1", Request: GenerateRequest{Prompt: "Hello", MaxTokens: 8}, SubmittedUnixMs: 1767225600000, Metadata: map[string]string{"batch": "b1"}}, func() Message { return &Job{} }},
		{"job_result", &JobResult{V: Version, JobID: "job-1", Status: JobDone, Text: "Hi", IDs: []int32{5, 6}, FinishReason: FinishStop, Usage: usage, Worker: "engine-a", Deliveries: 1, CompletedUnixMs: 1767225601000}, func() Message { return &JobResult{} }},
		{"tokenize_request", &TokenizeRequest{V: Version, Texts: []string{"hello", "world"}, AddBOS: true, Special: true}, func() Message { return &TokenizeRequest{} }},
		{"tokenize_response", &TokenizeResponse{V: Version, IDs: [][]int32{{1, 2}, {3}}}, func() Message { return &TokenizeResponse{} }},
		{"detokenize_request", &DetokenizeRequest{V: Version, IDs: [][]int32{{1, 2}, {3}}}, func() Message { return &DetokenizeRequest{} }},
		{"detokenize_response", &DetokenizeResponse{V: Version, Texts: []string{"ab", "c"}}, func() Message { return &DetokenizeResponse{} }},
	}
}
