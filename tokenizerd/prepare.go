package tokenizerd

import (
	"github.com/krserve/krserve/engined/kvpool"
	"github.com/krserve/krserve/schemas"
	"github.com/krserve/krserve/tokenizerd/chat"
	"github.com/krserve/krserve/tokenizerd/tokenizer"
)

// Encoder turns a GenerateRequest into an EngineRequest: chat template,
// encoding, validation against the context, and block hashes. The tokenizer
// worker uses it per batch; engine workers use it for batch jobs.
type Encoder struct {
	Tok        *tokenizer.Tokenizer
	Template   *chat.Template
	ModelID    string
	BlockSize  int
	ContextLen int
}

// Render returns the text to encode for r and its encode options.
func (e *Encoder) Render(r *schemas.GenerateRequest) (string, tokenizer.EncodeOptions, error) {
	o := tokenizer.EncodeOptions{AddBOS: e.Tok.DefaultAddBOS()}
	if r.AddBOS != nil {
		o.AddBOS = *r.AddBOS
	}
	if len(r.Messages) == 0 {
		return r.Prompt, o, nil // raw prompts never turn text into special tokens
	}
	tpl := e.Template
	if tpl == nil {
		tpl, _ = chat.ByName("chatml")
	}
	text, err := tpl.Render(r.Messages)
	if err != nil {
		return "", o, schemas.NewError(schemas.CodeBadRequest, "%v", err)
	}
	o.Special = tokenizer.SpecialAll
	if tpl.EmitsBOS {
		o.AddBOS = false
	}
	return text, o, nil
}

// Check validates encoded prompt ids against the context.
func (e *Encoder) Check(r *schemas.GenerateRequest, ids []int32) error {
	n := len(ids)
	switch {
	case n == 0:
		return schemas.NewError(schemas.CodeBadRequest, "prompt encodes to no tokens")
	case n >= e.ContextLen:
		return schemas.NewError(schemas.CodeTooLarge, "prompt of %d tokens does not fit the context of %d", n, e.ContextLen)
	case int(r.MaxTokens) >= e.ContextLen:
		return schemas.NewError(schemas.CodeBadRequest, "max_tokens %d exceeds the context of %d", r.MaxTokens, e.ContextLen)
	}
	return nil
}

// Hashes returns the chained block hashes of ids, as engines compute them.
func (e *Encoder) Hashes(salt string, ids []int32) []uint64 {
	hashes := kvpool.ChainHashes(kvpool.NewSeed(e.ModelID, salt), ids, e.BlockSize)
	out := make([]uint64, len(hashes))
	for i, h := range hashes {
		out[i] = uint64(h)
	}
	return out
}

// Prepare renders, encodes, validates and hashes one request. The caller
// sets the stream subject, variant and timing fields.
func (e *Encoder) Prepare(r *schemas.GenerateRequest) (*schemas.EngineRequest, error) {
	text, o, err := e.Render(r)
	if err != nil {
		return nil, err
	}
	ids := e.Tok.Encode(text, o)
	if err := e.Check(r, ids); err != nil {
		return nil, err
	}
	return e.engineRequest(r, ids), nil
}

func (e *Encoder) engineRequest(r *schemas.GenerateRequest, ids []int32) *schemas.EngineRequest {
	return &schemas.EngineRequest{V: schemas.Version, RequestID: r.ID, Model: r.Model, PromptIDs: ids, BlockHashes: e.Hashes(r.CacheSalt, ids),
		ConversationID: r.ConversationID, Sampling: r.Sampling, Stop: r.Stop, StopIDs: r.StopIDs, MaxTokens: r.MaxTokens,
		Priority: r.Priority, DeadlineUnixMs: r.DeadlineUnixMs, CacheSalt: r.CacheSalt}
}
