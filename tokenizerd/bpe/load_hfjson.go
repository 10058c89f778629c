package bpe

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// maxHFVocab bounds the ids accepted from a tokenizer.json.
const maxHFVocab = 1 << 23

// Split patterns of tokenizer.json pre-tokenizers this package implements.
const (
	hfPatGPT2   = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
	hfPatLlama3 = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	hfPatQwen2  = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	hfPatO200K  = `[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

var hfPatterns = map[string]Pretokenizer{
	hfPatGPT2:   PreGPT2,
	hfPatLlama3: PreLlama3,
	hfPatQwen2:  PreQwen2,
	hfPatO200K:  PreO200K,
}

type hfAdded struct {
	ID      int32  `json:"id"`
	Content string `json:"content"`
	Special bool   `json:"special"`
}

type hfModel struct {
	Type                    string   `json:"type"`
	IgnoreMerges            bool     `json:"ignore_merges"`
	ByteFallback            bool     `json:"byte_fallback"`
	ContinuingSubwordPrefix *string  `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string  `json:"end_of_word_suffix"`
	Dropout                 *float64 `json:"dropout"`
}

// hfParts is the part of a tokenizer.json the loader reads: the big vocab
// and merges by hand (see jscan), the rest with encoding/json.
type hfParts struct {
	raw    map[string]string // top-level key -> raw JSON
	model  hfModel
	vocab  []hfEntry
	merges hfMerges
}

// hfMerges holds the merges of a tokenizer.json as offsets, four per merge
// (start and end of the left and right text): into src, or, with the top bit
// set, into esc for texts that had JSON escapes.
type hfMerges struct {
	src string
	esc []byte
	off []uint32
}

const hfEscBit = 1 << 31

func (h *hfMerges) addRaw(a, b int) { h.off = append(h.off, uint32(a), uint32(b)) }

func (h *hfMerges) addEsc(s string) {
	a := len(h.esc)
	h.esc = append(h.esc, s...)
	h.off = append(h.off, uint32(a)|hfEscBit, uint32(len(h.esc))|hfEscBit)
}

func (h *hfMerges) text(a, b uint32) string {
	if a&hfEscBit != 0 {
		return unsafeString(h.esc[a&^hfEscBit : b&^hfEscBit])
	}
	return h.src[a:b]
}

// Len returns the number of merges.
func (h *hfMerges) Len() int { return len(h.off) / 4 }

// Pair returns the texts of merge i.
func (h *hfMerges) Pair(i int) (string, string) {
	o := h.off[4*i : 4*i+4 : 4*i+4]
	return h.text(o[0], o[1]), h.text(o[2], o[3])
}

type hfEntry struct {
	text string
	id   int32
}

func scanHF(src string) (*hfParts, error) {
	p := &hfParts{raw: map[string]string{}}
	modelRaw := map[string]string{}
	r := &jscan{src: src}
	bad := func(what string) error {
		return fmt.Errorf("%w: tokenizer.json: malformed %s near byte %d", ErrFormat, what, r.i)
	}
	var err error
	ok := r.object(func(key string) bool {
		if key != "model" {
			v, ok := r.skip()
			p.raw[key] = v
			return ok
		}
		if r.peek() != '{' {
			err = bad("model")
			return false
		}
		return r.object(func(mk string) bool {
			switch mk {
			case "vocab":
				if r.peek() != '{' {
					err = bad("model.vocab")
					return false
				}
				p.vocab = make([]hfEntry, 0, len(src)/64)
				return r.object(func(tok string) bool {
					id, ok := r.int()
					if !ok || id < 0 || id >= maxHFVocab {
						err = fmt.Errorf("%w: vocab %q: bad id", ErrFormat, tok)
						return false
					}
					p.vocab = append(p.vocab, hfEntry{tok, int32(id)})
					return true
				})
			case "merges":
				if r.peek() == 'n' {
					return r.lit("null")
				}
				p.merges = hfMerges{src: src, off: make([]uint32, 0, len(src)/8)}
				return r.array(func() bool {
					if r.peek() == '"' {
						start := r.i + 1
						s, ok := r.str()
						k := strings.IndexByte(s, ' ')
						if !ok || k < 0 {
							err = fmt.Errorf("%w: merge %d %q is not \"left right\"", ErrFormat, p.merges.Len(), s)
							return false
						}
						if r.i-1-start == len(s) {
							p.merges.addRaw(start, start+k)
							p.merges.addRaw(start+k+1, start+len(s))
						} else {
							p.merges.addEsc(s[:k])
							p.merges.addEsc(s[k+1:])
						}
						return true
					}
					n, idx := 0, p.merges.Len()
					ok := r.array(func() bool {
						start := r.i + 1
						s, ok := r.str()
						if ok && n < 2 {
							if r.i-1-start == len(s) {
								p.merges.addRaw(start, start+len(s))
							} else {
								p.merges.addEsc(s)
							}
						}
						n++
						return ok
					})
					if !ok || n != 2 {
						err = fmt.Errorf("%w: merge %d is not a pair of strings", ErrFormat, idx)
						return false
					}
					return true
				})
			}
			v, ok := r.skip()
			modelRaw[mk] = v
			return ok
		})
	})
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, bad("JSON")
	}
	if r.ws(); r.i != len(src) {
		return nil, bad("trailing data")
	}
	if _, ok := p.raw["model"]; !ok && p.vocab == nil && len(modelRaw) == 0 {
		return nil, fmt.Errorf("%w: tokenizer.json has no model", ErrFormat)
	}
	var b strings.Builder
	b.WriteByte('{')
	first := true
	for k, v := range modelRaw {
		if !first {
			b.WriteByte(',')
		}
		first = false
		b.WriteString(strconv.Quote(k))
		b.WriteByte(':')
		b.WriteString(v)
	}
	b.WriteByte('}')
	if e := json.Unmarshal([]byte(b.String()), &p.model); e != nil {
		return nil, fmt.Errorf("%w: tokenizer.json model: %w", ErrFormat, e)
	}
	return p, nil
}

// rawField decodes top-level key into v; a missing key or null leaves v.
func (p *hfParts) rawField(key string, v any) error {
	raw, ok := p.raw[key]
	if !ok || raw == "null" {
		return nil
	}
	if err := json.Unmarshal([]byte(raw), v); err != nil {
		return fmt.Errorf("%w: tokenizer.json %s: %w", ErrFormat, key, err)
	}
	return nil
}

type hfPre struct {
	Type          string   `json:"type"`
	Pretokenizers []*hfPre `json:"pretokenizers"`
	Pattern       struct {
		Regex  *string `json:"Regex"`
		String *string `json:"String"`
	} `json:"pattern"`
	Behavior       string `json:"behavior"`
	Invert         bool   `json:"invert"`
	AddPrefixSpace bool   `json:"add_prefix_space"`
	UseRegex       *bool  `json:"use_regex"`
}

type hfPost struct {
	Type   string `json:"type"`
	Single []struct {
		SpecialToken *struct {
			ID string `json:"id"`
		} `json:"SpecialToken"`
		Sequence *struct {
			ID string `json:"id"`
		} `json:"Sequence"`
	} `json:"single"`
	SpecialTokens map[string]struct {
		IDs []int32 `json:"ids"`
	} `json:"special_tokens"`
}

// LoadHFJSON loads a Hugging Face tokenizer.json holding a byte-level BPE
// model: model.type "BPE", no normalizer, and a pre-tokenizer that is either
// ByteLevel with its GPT-2 regex or a Split on the GPT-2, Llama 3, Qwen2 or
// o200k pattern followed by ByteLevel without regex. Every entry of
// added_tokens is returned as a Special (UserDefined when "special" is
// false). BOS and EOS come from a TemplateProcessing post-processor when
// there is one; otherwise they are -1 (tokenizer_config.json, which this
// function does not read, may name them).
func LoadHFJSON(data []byte) (*Loaded, error) {
	if len(data) >= hfEscBit {
		return nil, fmt.Errorf("%w: tokenizer.json of %d bytes is too large", ErrFormat, len(data))
	}
	// The scan reads data in place; nothing it returns aliases data.
	p, err := scanHF(unsafeString(data))
	if err != nil {
		return nil, err
	}
	var added []hfAdded
	var pretok *hfPre
	var post *hfPost
	if err := p.rawField("added_tokens", &added); err != nil {
		return nil, err
	}
	if err := p.rawField("pre_tokenizer", &pretok); err != nil {
		return nil, err
	}
	if err := p.rawField("post_processor", &post); err != nil {
		return nil, err
	}
	mdl := p.model
	if mdl.Type != "BPE" {
		return nil, fmt.Errorf("%w: model type %q (this loader reads BPE)", ErrUnsupported, mdl.Type)
	}
	if n, ok := p.raw["normalizer"]; ok && n != "null" {
		return nil, fmt.Errorf("%w: normalizer %s", ErrUnsupported, firstBytes([]byte(n), 60))
	}
	switch {
	case mdl.ByteFallback:
		return nil, fmt.Errorf("%w: byte_fallback BPE", ErrUnsupported)
	case mdl.ContinuingSubwordPrefix != nil && *mdl.ContinuingSubwordPrefix != "",
		mdl.EndOfWordSuffix != nil && *mdl.EndOfWordSuffix != "":
		return nil, fmt.Errorf("%w: subword prefix or suffix", ErrUnsupported)
	case mdl.Dropout != nil && *mdl.Dropout != 0:
		return nil, fmt.Errorf("%w: BPE dropout", ErrUnsupported)
	}
	pre, err := hfPretokenizer(pretok)
	if err != nil {
		return nil, err
	}
	if len(p.vocab) == 0 {
		return nil, fmt.Errorf("%w: empty model.vocab", ErrFormat)
	}

	nv := 0
	for _, e := range p.vocab {
		nv = max(nv, int(e.id)+1)
	}
	for _, a := range added {
		if a.ID < 0 || a.ID >= maxHFVocab {
			return nil, fmt.Errorf("%w: added token %q has id %d", ErrFormat, a.Content, a.ID)
		}
		nv = max(nv, int(a.ID)+1)
	}
	texts := make([]string, nv)
	has := make([]bool, nv)
	for _, e := range p.vocab {
		if has[e.id] {
			return nil, fmt.Errorf("%w: id %d used by %q and %q", ErrFormat, e.id, texts[e.id], e.text)
		}
		texts[e.id], has[e.id] = e.text, true
	}
	ordinary := make([]bool, nv)
	copy(ordinary, has)
	specials := make([]Special, 0, len(added))
	isAdded := make([]bool, nv)
	for _, a := range added {
		specials = append(specials, Special{Text: a.Content, ID: a.ID, UserDefined: !a.Special})
		ordinary[a.ID] = false
	}
	// An added token replaces the vocabulary text of its id in the arena;
	// when added_tokens repeats an id, the last entry wins.
	for _, a := range added {
		texts[a.ID], isAdded[a.ID] = a.Content, true
	}
	arena := make([]byte, 0, nv*8)
	offs := make([]uint32, nv+1)
	for id := 0; id < nv; id++ {
		offs[id] = uint32(len(arena))
		if isAdded[id] {
			arena = append(arena, texts[id]...)
			continue
		}
		if !has[id] {
			continue
		}
		mark := len(arena)
		var ok bool
		if arena, ok = appendByteLevel(arena, texts[id]); !ok {
			arena = append(arena[:mark], texts[id]...)
		}
	}
	offs[nv] = uint32(len(arena))

	// Merges resolve through the model's byte table; texts it lacks (added
	// tokens, or vocabulary texts whose bytes another token already has) go
	// through a map built only when needed.
	var byText map[string]int32
	textID := func(s string) (int32, bool) {
		if byText == nil {
			byText = make(map[string]int32, len(p.vocab))
			for _, e := range p.vocab {
				byText[e.text] = e.id
			}
		}
		id, ok := byText[s]
		return id, ok
	}
	byteTokens := map[byte]int32{}
	for _, sp := range specials {
		if b, ok := appendByteLevel(nil, sp.Text); ok && sp.UserDefined && len(b) == 1 {
			byteTokens[b[0]] = sp.ID
		}
	}
	m, err := buildModel(vocabSpec{pre: pre, longS: true, arena: arena, offs: offs, ordinary: ordinary,
		mergeTexts: &p.merges, textID: textID, byteTokens: byteTokens, wholeOK: mdl.IgnoreMerges})
	if err != nil {
		return nil, err
	}
	l := &Loaded{Model: m, Specials: specials, BOS: -1, EOS: -1}
	hfTemplate(post, l)
	return l, nil
}

func firstBytes(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

func hfPretokenizer(p *hfPre) (Pretokenizer, error) {
	if p == nil {
		return "", fmt.Errorf("%w: no pre_tokenizer", ErrUnsupported)
	}
	if p.Type == "ByteLevel" {
		if p.AddPrefixSpace {
			return "", fmt.Errorf("%w: ByteLevel add_prefix_space", ErrUnsupported)
		}
		if p.UseRegex != nil && !*p.UseRegex {
			return "", fmt.Errorf("%w: ByteLevel without a split regex", ErrUnsupported)
		}
		return PreGPT2, nil
	}
	if p.Type != "Sequence" || len(p.Pretokenizers) != 2 || p.Pretokenizers[0] == nil || p.Pretokenizers[1] == nil {
		return "", fmt.Errorf("%w: pre_tokenizer %q", ErrUnsupported, p.Type)
	}
	split, bl := p.Pretokenizers[0], p.Pretokenizers[1]
	if bl.Type != "ByteLevel" || bl.AddPrefixSpace || bl.UseRegex == nil || *bl.UseRegex {
		return "", fmt.Errorf("%w: Sequence must end with ByteLevel (no prefix space, no regex)", ErrUnsupported)
	}
	if split.Type != "Split" || split.Pattern.Regex == nil {
		return "", fmt.Errorf("%w: Sequence must start with a regex Split", ErrUnsupported)
	}
	// The patterns match every code point, so keeping the matches (Removed
	// with invert) and isolating them (Isolated) split the same way.
	if !(split.Behavior == "Isolated" && !split.Invert) && !(split.Behavior == "Removed" && split.Invert) {
		return "", fmt.Errorf("%w: Split behavior %q invert %v", ErrUnsupported, split.Behavior, split.Invert)
	}
	pre, ok := hfPatterns[*split.Pattern.Regex]
	if !ok {
		return "", fmt.Errorf("%w: Split pattern %q", ErrUnsupported, firstBytes([]byte(*split.Pattern.Regex), 80))
	}
	return pre, nil
}

// hfTemplate reads BOS/EOS from a TemplateProcessing post-processor: special
// tokens before sequence A are BOS, after it EOS.
func hfTemplate(p *hfPost, l *Loaded) {
	if p == nil || p.Type != "TemplateProcessing" {
		return
	}
	seenA := false
	for _, piece := range p.Single {
		switch {
		case piece.Sequence != nil:
			seenA = true
		case piece.SpecialToken != nil:
			st, ok := p.SpecialTokens[piece.SpecialToken.ID]
			if !ok || len(st.IDs) != 1 || st.IDs[0] < 0 || int(st.IDs[0]) >= l.Model.VocabSize() {
				continue
			}
			if !seenA {
				l.BOS, l.AddBOS = st.IDs[0], true
			} else {
				l.EOS, l.AddEOS = st.IDs[0], true
			}
		}
	}
}
