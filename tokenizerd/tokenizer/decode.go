package tokenizer

import "unicode/utf8"

// appendToken appends the bytes of id to dst. strip carries the
// SentencePiece rule across calls: the piece that starts the sequence or
// follows a special token loses one leading space (the dummy prefix).
func (t *Tokenizer) appendToken(dst []byte, id int32, strip *bool) []byte {
	if t.sp != nil {
		dst = t.sp.AppendPiece(dst, id, *strip && t.sp.AddSpacePrefix())
		*strip = t.sp.StripsSpaceAfter(id)
		return dst
	}
	if s, ok := t.specials[id]; ok {
		if t.renderSpecial || s.UserDefined {
			return append(dst, s.Text...)
		}
		return dst
	}
	return append(dst, t.bp.TokenBytes(id)...)
}

// Decode returns the text of ids, the inverse of Encode on ordinary text.
// Ids out of range are skipped. GGUF vocabularies follow llama.cpp's
// token_to_piece: control tokens give no text, user-defined tokens their
// text, SentencePiece byte tokens <0xNN> their byte, and the dummy-prefix
// space is dropped from the piece that starts the sequence or follows a
// control or user-defined token (llama2.c drops it after BOS). tiktoken and
// tokenizer.json vocabularies write special tokens as their text, as
// tiktoken's decode does. The result holds the raw bytes: it is invalid
// UTF-8 only when the ids spell an invalid byte sequence (see
// StreamDecoder for text that is always valid).
func (t *Tokenizer) Decode(ids []int32) string {
	buf := make([]byte, 0, len(ids)*4)
	strip := true
	for _, id := range ids {
		buf = t.appendToken(buf, id, &strip)
	}
	return string(buf)
}

// StreamDecoder turns a stream of ids into text incrementally. Push returns
// only complete UTF-8: the bytes of a character split across tokens (byte
// tokens, byte-level BPE) are held until the character is complete. Bytes
// that can never form a valid character are written as U+FFFD, one per
// byte, so that the concatenation of every Push and a final Flush equals
// Decode of the same ids with each invalid byte replaced (what
// string([]rune(s)) does). A StreamDecoder serves one stream and is not safe
// for concurrent use.
type StreamDecoder struct {
	t       *Tokenizer
	pending []byte
	out     []byte
	strip   bool
}

// NewStreamDecoder returns a decoder at the start of a sequence.
func (t *Tokenizer) NewStreamDecoder() *StreamDecoder {
	return &StreamDecoder{t: t, strip: true}
}

// Push adds one id and returns the text it completes (possibly "").
func (d *StreamDecoder) Push(id int32) string {
	d.pending = d.t.appendToken(d.pending, id, &d.strip)
	return d.emit(false)
}

// Flush returns whatever is still held (an incomplete character becomes
// U+FFFD per byte) and empties the buffer. Decoding may go on afterwards.
func (d *StreamDecoder) Flush() string { return d.emit(true) }

// Reset returns the decoder to the start of a new sequence.
func (d *StreamDecoder) Reset() {
	d.pending = d.pending[:0]
	d.strip = true
}

func (d *StreamDecoder) emit(final bool) string {
	p := d.pending
	out := d.out[:0]
	i := 0
	for i < len(p) {
		c := p[i]
		if c < utf8.RuneSelf {
			out = append(out, c)
			i++
			continue
		}
		if !final && !utf8.FullRune(p[i:]) {
			break
		}
		r, n := utf8.DecodeRune(p[i:])
		if r == utf8.RuneError && n == 1 {
			out = append(out, "\uFFFD"...)
		} else {
			out = append(out, p[i:i+n]...)
		}
		i += n
	}
	d.pending = append(d.pending[:0], p[i:]...)
	d.out = out
	return string(out)
}
