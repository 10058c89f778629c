package spm

// AppendPiece appends the text of one token to dst, as llama.cpp's
// token_to_piece does without special rendering: normal tokens with Space
// turned back into ' ', byte tokens as their raw byte, user-defined and
// unknown tokens as their text, control and unused tokens as nothing. With
// stripSpace one leading ' ' is dropped (the dummy prefix).
func (m *Model) AppendPiece(dst []byte, id int32, stripSpace bool) []byte {
	if id < 0 || int(id) >= len(m.pieces) {
		return dst
	}
	p := m.pieces[id]
	start := len(dst)
	switch m.types[id] {
	case Normal:
		dst = m.unescape(dst, p)
	case Byte:
		if b, ok := parseByte(p); ok {
			dst = append(dst, b)
		} else {
			dst = append(dst, p...)
		}
	case UserDefined, Unknown:
		dst = append(dst, p...)
	default:
		return dst
	}
	if stripSpace && len(dst) > start && dst[start] == ' ' {
		dst = append(dst[:start], dst[start+1:]...)
	}
	return dst
}

func (m *Model) unescape(dst []byte, p string) []byte {
	if m.space == " " {
		return append(dst, p...)
	}
	sp := m.space
	for i := 0; i < len(p); {
		if len(p)-i >= len(sp) && p[i:i+len(sp)] == sp {
			dst = append(dst, ' ')
			i += len(sp)
			continue
		}
		dst = append(dst, p[i])
		i++
	}
	return dst
}

// StripsSpaceAfter reports whether the piece that follows id starts a new
// fragment, so that decoding drops the dummy prefix from it: true after
// control, unknown and user-defined tokens when the vocabulary adds the
// prefix. (The first token of a sequence starts a fragment too.) This
// mirrors where the encoder puts the prefix and generalizes llama2.c's rule
// of dropping the leading space of the piece after BOS.
func (m *Model) StripsSpaceAfter(id int32) bool {
	return m.addSpacePrefix && m.Type(id).Special()
}

// Decode returns the text of ids: the inverse of Encode on ordinary text.
// The result holds raw bytes and may be invalid UTF-8 when the ids spell
// invalid byte sequences.
func (m *Model) Decode(ids []int32) string {
	var buf []byte
	strip := m.addSpacePrefix
	for _, id := range ids {
		buf = m.AppendPiece(buf, id, strip)
		strip = m.StripsSpaceAfter(id)
	}
	return string(buf)
}

// window bounds how far SafeSplit looks from near, so that repeated calls
// over a text stay linear.
const window = 4096

// SafeSplit returns a byte offset p close to near (within a few KiB) such
// that encoding text[:p] and then text[p:] with no dummy prefix gives the
// same ids as encoding text whole, or -1 when there is none in reach. Such a
// p sits on a space that follows a non-space character; it exists only for
// vocabularies in which no mergeable piece has a space after a non-space
// character (true of the Llama 1/2, Phi-3 and TinyStories vocabularies).
func (m *Model) SafeSplit(text string, near int) int {
	if !m.splitSafe || len(text) < 2 {
		return -1
	}
	near = min(max(near, 1), len(text)-1)
	for d := 0; d <= window; d++ {
		if p := near + d; p < len(text) && m.splitsAt(text, p) {
			return p
		}
		if p := near - d; d > 0 && p > 0 && m.splitsAt(text, p) {
			return p
		}
	}
	return -1
}

func (m *Model) splitsAt(text string, p int) bool {
	if text[p] != ' ' || text[p-1] == ' ' {
		return false
	}
	if m.space != " " && p >= len(m.space) && text[p-len(m.space):p] == m.space {
		return false // a literal Space in the text merges like a space
	}
	return true
}
