package schemas

// EngineRequest is a tokenized request routed by a tokenizer worker to one
// engine worker (krserve.v1.engine.<variant>.<worker>) or to a variant's
// queue group.
type EngineRequest struct {
	V              int      `msgpack:"v"`
	RequestID      string   `msgpack:"id"`
	Model          string   `msgpack:"model,omitempty"`
	PromptIDs      []int32  `msgpack:"prompt_ids"`
	BlockHashes    []uint64 `msgpack:"block_hashes,omitempty"` // chained hashes of the prompt's full blocks
	ConversationID string   `msgpack:"conversation_id,omitempty"`
	Sampling       Sampling `msgpack:"sampling,omitempty"`
	Stop           []string `msgpack:"stop,omitempty"`
	StopIDs        []int32  `msgpack:"stop_ids,omitempty"`
	MaxTokens      int32    `msgpack:"max_tokens,omitempty"`
	StreamSubject  string   `msgpack:"stream"` // where the engine publishes StreamMsg
	Priority       int32    `msgpack:"priority,omitempty"`
	DeadlineUnixMs int64    `msgpack:"deadline_ms,omitempty"`
	CacheSalt      string   `msgpack:"cache_salt,omitempty"`
	Variant        string   `msgpack:"variant,omitempty"`
	ReceivedUnixUs int64    `msgpack:"received_us"` // when the tokenizer worker received the request
	TokenizeUs     int64    `msgpack:"tokenize_us,omitempty"`
	JobID          string   `msgpack:"job_id,omitempty"` // set for batch jobs
	Attempt        int32    `msgpack:"attempt,omitempty"`
}

// Validate implements Message.
func (r *EngineRequest) Validate() error {
	const m = "EngineRequest"
	switch {
	case r.RequestID == "":
		return invalid(m, "id", "missing")
	case len(r.PromptIDs) == 0:
		return invalid(m, "prompt_ids", "empty")
	case r.StreamSubject == "":
		return invalid(m, "stream", "missing")
	case r.MaxTokens < 0 || r.MaxTokens > MaxTokensLimit:
		return invalid(m, "max_tokens", "%d is outside [0, %d]", r.MaxTokens, MaxTokensLimit)
	}
	for i, id := range r.PromptIDs {
		if id < 0 {
			return invalid(m, "prompt_ids", "id %d at %d is negative", id, i)
		}
	}
	if err := validID(m, "id", r.RequestID); err != nil {
		return err
	}
	if err := validSubject(m, "stream", r.StreamSubject); err != nil {
		return err
	}
	return r.Sampling.Validate(m)
}

func (r *EngineRequest) version() int { return r.V }

// KVEventKind is the kind of one KV block event.
type KVEventKind string

// KV event kinds.
const (
	KVStored  KVEventKind = "stored"
	KVRemoved KVEventKind = "removed"
	KVCleared KVEventKind = "cleared" // the worker dropped its whole cache (restart); Hash is 0
)

// KVEvent says one block appeared in or left a worker's prefix cache.
type KVEvent struct {
	Kind   KVEventKind `msgpack:"kind"`
	Hash   uint64      `msgpack:"hash"`
	Parent uint64      `msgpack:"parent,omitempty"` // hash of the previous block in the chain; 0 for the first
}

// KVEvents is a batch of block events from one engine worker, published on
// krserve.v1.kv.<worker>. Seq grows by one per batch so routers can detect a
// lost batch and resynchronize.
type KVEvents struct {
	V         int       `msgpack:"v"`
	Worker    string    `msgpack:"worker"`
	Variant   string    `msgpack:"variant,omitempty"`
	Seq       uint64    `msgpack:"seq"`
	BlockSize int32     `msgpack:"block_size"`
	Events    []KVEvent `msgpack:"events"`
}

// Validate implements Message.
func (k *KVEvents) Validate() error {
	const m = "KVEvents"
	if k.Worker == "" {
		return invalid(m, "worker", "missing")
	}
	if k.BlockSize <= 0 {
		return invalid(m, "block_size", "%d is not positive", k.BlockSize)
	}
	for i, e := range k.Events {
		switch e.Kind {
		case KVStored, KVRemoved, KVCleared:
		default:
			return invalid(m, "events", "event %d has kind %q", i, e.Kind)
		}
	}
	return nil
}

func (k *KVEvents) version() int { return k.V }

// WorkerState is the lifecycle state a heartbeat reports.
type WorkerState string

// Worker states.
const (
	StateReady    WorkerState = "ready"
	StateDraining WorkerState = "draining" // finishing in-flight work; route nothing new
	StateStopped  WorkerState = "stopped"  // the last heartbeat of a clean exit
)

// Heartbeat announces a worker's liveness and load on
// krserve.v1.heartbeat.<role>.<worker>.
type Heartbeat struct {
	V           int         `msgpack:"v"`
	Role        string      `msgpack:"role"` // "tokenizer", "engine", "controller", "gateway"
	Worker      string      `msgpack:"worker"`
	Variant     string      `msgpack:"variant,omitempty"`
	Model       string      `msgpack:"model,omitempty"`
	State       WorkerState `msgpack:"state"`
	IntervalMs  int32       `msgpack:"interval_ms"` // the next heartbeat is due within this
	Running     int32       `msgpack:"running"`     // sequences decoding
	Waiting     int32       `msgpack:"waiting"`     // requests queued
	QueueCap    int32       `msgpack:"queue_cap"`
	FreeBlocks  int32       `msgpack:"free_blocks"`
	TotalBlocks int32       `msgpack:"total_blocks"`
	BlockSize   int32       `msgpack:"block_size,omitempty"`
	Subject     string      `msgpack:"subject,omitempty"` // the worker's direct subject
	SentUnixMs  int64       `msgpack:"sent_ms"`
}

// Validate implements Message.
func (h *Heartbeat) Validate() error {
	const m = "Heartbeat"
	switch {
	case h.Role == "":
		return invalid(m, "role", "missing")
	case h.Worker == "":
		return invalid(m, "worker", "missing")
	case h.IntervalMs <= 0:
		return invalid(m, "interval_ms", "%d is not positive", h.IntervalMs)
	}
	switch h.State {
	case StateReady, StateDraining, StateStopped:
	default:
		return invalid(m, "state", "%q", h.State)
	}
	return nil
}

func (h *Heartbeat) version() int { return h.V }
