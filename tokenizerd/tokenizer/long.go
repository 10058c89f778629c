package tokenizer

import "context"

// splitWindow is how far from each chunk target EncodeLong looks for a safe
// split point.
const splitWindow = 4096

// EncodeLong encodes one long text by cutting it into chunks of about
// ChunkBytes and encoding the chunks in parallel (the caller and up to
// NumThreads-1 workers). The result equals Encode: the text is first split
// on special tokens exactly as Encode does, and an ordinary stretch is cut
// only where the model's SafeSplit proves that no merge or pre-token can
// cross the cut (SentencePiece: a space after a non-space character, for
// vocabularies whose pieces keep spaces at the front, such as Llama 1/2 and
// Phi-3; byte-level BPE: a space between two ASCII letters, for every
// pre-tokenizer of package bpe). Text with no such point in reach (100 KB
// of one letter, Han text without spaces) stays one chunk. Errors and ctx
// are handled as in EncodeBatch; with the parallel path off, or for text
// shorter than two chunks, EncodeLong is Encode.
func (p *Pool) EncodeLong(ctx context.Context, text string, o EncodeOptions) ([]int32, error) {
	chunk := p.cfg.ChunkBytes
	if !p.cfg.Enabled || len(text) < 2*chunk {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p.count("sequential", 1, len(text))
		return p.t.Encode(text, o), nil
	}
	t := p.t
	var items []item
	for pt := range t.parts(text, o.Special) {
		if pt.id >= 0 {
			items = append(items, item{ids: []int32{pt.id}, fixed: true})
			continue
		}
		prefix := pt.afterSpecial
		for _, c := range t.chunks(pt.raw, chunk) {
			items = append(items, item{text: c, raw: true, prefix: prefix})
			prefix = false
		}
	}
	if err := p.runJob(ctx, items); err != nil {
		return nil, err
	}
	n := 0
	for i := range items {
		n += len(items[i].ids)
	}
	out := make([]int32, 0, n+2)
	if o.AddBOS && t.bos >= 0 {
		out = append(out, t.bos)
	}
	for i := range items {
		out = append(out, items[i].ids...)
	}
	if o.AddEOS && t.eos >= 0 {
		out = append(out, t.eos)
	}
	return out, nil
}

// chunks cuts raw at safe points about every chunk bytes.
func (t *Tokenizer) chunks(raw string, chunk int) []string {
	var out []string
	start := 0
	for target := chunk; target+chunk/2 < len(raw); {
		lo := max(start+1, target-splitWindow)
		hi := min(len(raw), target+splitWindow)
		if p := t.safeSplit(raw[lo:hi], target-lo); p > 0 {
			cut := lo + p
			out = append(out, raw[start:cut])
			start = cut
			target = cut + chunk
			continue
		}
		target += chunk
	}
	return append(out, raw[start:])
}
