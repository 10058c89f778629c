package schemas

// TokenizeRequest asks the tokenize micro service (krserve.v1.tokenize) to
// encode a batch of texts.
type TokenizeRequest struct {
	V       int      `msgpack:"v"`
	Texts   []string `msgpack:"texts"`
	AddBOS  bool     `msgpack:"add_bos,omitempty"`
	Special bool     `msgpack:"special,omitempty"` // encode special-token text as special tokens
}

// Validate implements Message.
func (r *TokenizeRequest) Validate() error {
	if len(r.Texts) == 0 {
		return invalid("TokenizeRequest", "texts", "empty")
	}
	if len(r.Texts) > MaxBatchTexts {
		return invalid("TokenizeRequest", "texts", "%d texts exceeds %d", len(r.Texts), MaxBatchTexts)
	}
	return nil
}

func (r *TokenizeRequest) version() int { return r.V }

// TokenizeResponse holds one id list per text, in order.
type TokenizeResponse struct {
	V   int       `msgpack:"v"`
	IDs [][]int32 `msgpack:"ids"`
}

// Validate implements Message.
func (r *TokenizeResponse) Validate() error { return nil }

func (r *TokenizeResponse) version() int { return r.V }

// DetokenizeRequest asks krserve.v1.detokenize to decode id lists.
type DetokenizeRequest struct {
	V   int       `msgpack:"v"`
	IDs [][]int32 `msgpack:"ids"`
}

// Validate implements Message.
func (r *DetokenizeRequest) Validate() error {
	if len(r.IDs) == 0 {
		return invalid("DetokenizeRequest", "ids", "empty")
	}
	if len(r.IDs) > MaxBatchTexts {
		return invalid("DetokenizeRequest", "ids", "%d lists exceeds %d", len(r.IDs), MaxBatchTexts)
	}
	for i, l := range r.IDs {
		for _, id := range l {
			if id < 0 {
				return invalid("DetokenizeRequest", "ids", "list %d has negative id %d", i, id)
			}
		}
	}
	return nil
}

func (r *DetokenizeRequest) version() int { return r.V }

// DetokenizeResponse holds one text per id list, in order.
type DetokenizeResponse struct {
	V     int      `msgpack:"v"`
	Texts []string `msgpack:"texts"`
}

// Validate implements Message.
func (r *DetokenizeResponse) Validate() error { return nil }

func (r *DetokenizeResponse) version() int { return r.V }
