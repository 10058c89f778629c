package tokenizer

import "iter"

// SpecialMode says whether special-token text in the input is encoded as
// the special token or as ordinary text.
type SpecialMode int

const (
	// SpecialNone encodes special-token text as ordinary text (tiktoken's
	// encode_ordinary; llama.cpp parse_special=false). User-defined tokens
	// of GGUF vocabularies and non-special added tokens of tokenizer.json
	// are still matched, as the reference tokenizers match them.
	SpecialNone SpecialMode = iota
	// SpecialAll encodes every special-token text found in the input as its
	// id (tiktoken's allowed_special="all"; llama.cpp parse_special=true).
	SpecialAll
)

// EncodeOptions controls one encode.
type EncodeOptions struct {
	AddBOS, AddEOS bool // add the vocabulary's BOS/EOS (ignored when it has none)
	Special        SpecialMode
}

// Encode returns the ids of text.
func (t *Tokenizer) Encode(text string, o EncodeOptions) []int32 {
	return t.AppendEncode(make([]int32, 0, len(text)/3+4), text, o)
}

// AppendEncode appends the ids of text to dst and returns the extended
// slice. It does not allocate when dst has room.
//
// Text is first split on special tokens (the leftmost match, the longest at
// that position; llama.cpp instead matches the longest token text
// everywhere first, which differs only when two special texts overlap in
// the input). Each stretch of ordinary text between them is encoded by the
// vocabulary's model; for SentencePiece every stretch that follows the
// start or a special token gets the dummy prefix, as llama.cpp does.
func (t *Tokenizer) AppendEncode(dst []int32, text string, o EncodeOptions) []int32 {
	if o.AddBOS && t.bos >= 0 {
		dst = append(dst, t.bos)
	}
	dst = t.encodeText(dst, text, o.Special)
	if o.AddEOS && t.eos >= 0 {
		dst = append(dst, t.eos)
	}
	return dst
}

func (t *Tokenizer) matcherFor(mode SpecialMode) *matcher {
	if mode == SpecialAll {
		return t.all
	}
	return t.always
}

// part is a stretch of ordinary text (id < 0) or one special token.
type part struct {
	raw          string
	afterSpecial bool // the stretch starts the text or follows a special token
	id           int32
}

// parts splits text on the special tokens of mode.
func (t *Tokenizer) parts(text string, mode SpecialMode) iter.Seq[part] {
	return func(yield func(part) bool) {
		mt := t.matcherFor(mode)
		afterSpecial := true
		pos := 0
		for mt != nil {
			start, end, tok := mt.next(text, pos)
			if start < 0 {
				break
			}
			raw := text[pos:start]
			if tok.lstrip {
				for len(raw) > 0 && isSpace(raw[len(raw)-1]) {
					raw = raw[:len(raw)-1]
				}
			}
			if raw != "" && !yield(part{raw: raw, afterSpecial: afterSpecial, id: -1}) {
				return
			}
			if !yield(part{id: tok.id}) {
				return
			}
			afterSpecial = true
			pos = end
			if tok.rstrip {
				for pos < len(text) && isSpace(text[pos]) {
					pos++
				}
			}
		}
		if pos < len(text) {
			yield(part{raw: text[pos:], afterSpecial: afterSpecial, id: -1})
		}
	}
}

// encodeText splits on special tokens and encodes the ordinary stretches.
func (t *Tokenizer) encodeText(dst []int32, text string, mode SpecialMode) []int32 {
	if t.matcherFor(mode) == nil {
		return t.encodeRaw(dst, text, true)
	}
	for p := range t.parts(text, mode) {
		if p.id >= 0 {
			dst = append(dst, p.id)
		} else {
			dst = t.encodeRaw(dst, p.raw, p.afterSpecial)
		}
	}
	return dst
}

// encodeRaw encodes ordinary text; afterSpecial marks a stretch that starts
// the text or follows a special token (SentencePiece dummy prefix).
func (t *Tokenizer) encodeRaw(dst []int32, raw string, afterSpecial bool) []int32 {
	if t.sp != nil {
		return t.sp.EncodeFragment(dst, raw, afterSpecial && t.sp.AddSpacePrefix())
	}
	return t.bp.Encode(dst, raw)
}

// safeSplit is the model's SafeSplit: an offset near which encoding the two
// sides separately (the right side without the dummy prefix) is exact.
func (t *Tokenizer) safeSplit(text string, near int) int {
	if t.sp != nil {
		return t.sp.SafeSplit(text, near)
	}
	return t.bp.SafeSplit(text, near)
}
