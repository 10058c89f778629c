package tokenizer

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/krserve/krserve/engined/gguf"
	"github.com/krserve/krserve/tokenizerd/bpe"
	"github.com/krserve/krserve/tokenizerd/spm"
)

// Sentinel errors; compare with errors.Is. Loader errors also wrap the
// underlying package's error (spm.ErrFormat, bpe.ErrFormat, gguf.ErrFormat,
// fs.ErrNotExist, …).
var (
	// ErrUnsupported means the vocabulary is well formed but of a kind this
	// package does not implement (WordPiece "bert", Unigram "t5", …) or the
	// spec names nothing it knows. Use another vocabulary.
	ErrUnsupported = errors.New("tokenizer: unsupported vocabulary")
	// ErrFormat means the vocabulary file is corrupt or inconsistent.
	// Replace the file; retrying cannot help.
	ErrFormat = errors.New("tokenizer: malformed vocabulary")
)

// Kinds returned by Tokenizer.Kind.
const (
	KindSPM = "spm" // SentencePiece BPE (GGUF "llama", llama2.c tokenizer.bin)
	KindBPE = "bpe" // byte-level BPE (GGUF "gpt2", tokenizer.json, tiktoken)
)

// Tokenizer encodes text to token ids and back for one vocabulary. It is
// immutable after loading and safe for concurrent use.
type Tokenizer struct {
	name, kind string
	sp         *spm.Model
	bp         *bpe.Model

	// always holds the tokens split out of every text (user-defined
	// tokens); all adds the control tokens matched with SpecialAll.
	always, all *matcher

	bos, eos       int32
	addBOS, addEOS bool
	vocabSize      int

	// BPE special tokens by id. renderSpecial: Decode writes their text
	// (tiktoken and tokenizer.json); GGUF vocabularies drop control tokens
	// as llama.cpp does.
	specials      map[int32]bpe.Special
	renderSpecial bool
}

// Load opens a vocabulary by spec: a tiktoken name ("cl100k_base",
// "o200k_base"), a GGUF file (*.gguf), a Hugging Face tokenizer.json
// (*.json) or a llama2.c tokenizer.bin (*.bin). A path with another
// extension is recognized by its content.
func Load(spec string) (*Tokenizer, error) {
	for _, n := range bpe.TiktokenNames {
		if spec == n {
			l, err := bpe.LoadTiktoken(n)
			if err != nil {
				return nil, wrapLoad(spec, err)
			}
			t, err := fromBPE(n, l, true)
			return t, wrapLoad(spec, err)
		}
	}
	kind := strings.ToLower(filepath.Ext(spec))
	if kind != ".gguf" && kind != ".json" && kind != ".bin" {
		head, err := readHead(spec)
		if err != nil {
			return nil, fmt.Errorf("tokenizer: %q is not a known vocabulary name and cannot be read: %w", spec, err)
		}
		switch {
		case bytes.HasPrefix(head, []byte(gguf.Magic)):
			kind = ".gguf"
		case bytes.HasPrefix(bytes.TrimLeft(head, " \t\r\n"), []byte("{")):
			kind = ".json"
		default:
			kind = ".bin"
		}
	}
	switch kind {
	case ".gguf":
		f, err := gguf.Open(spec)
		if err != nil {
			return nil, wrapLoad(spec, err)
		}
		defer f.Close()
		t, err := FromGGUF(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", spec, err)
		}
		t.name = filepath.Base(spec)
		return t, nil
	case ".json":
		data, err := os.ReadFile(spec)
		if err != nil {
			return nil, fmt.Errorf("tokenizer: %w", err)
		}
		l, err := bpe.LoadHFJSON(data)
		if err != nil {
			return nil, wrapLoad(spec, err)
		}
		t, err := fromBPE(filepath.Base(spec), l, true)
		return t, wrapLoad(spec, err)
	default:
		m, err := spm.LoadLlama2C(spec)
		if err != nil {
			return nil, wrapLoad(spec, err)
		}
		return fromSPM(filepath.Base(spec), m), nil
	}
}

func readHead(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, 64)
	n, err := f.Read(buf)
	if n == 0 && err != nil {
		return nil, err
	}
	return buf[:n], nil
}

// wrapLoad adds this package's sentinel to a loader error.
func wrapLoad(spec string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, spm.ErrUnsupported), errors.Is(err, bpe.ErrUnsupported),
		errors.Is(err, bpe.ErrUnknownVocab), errors.Is(err, gguf.ErrUnsupported):
		return fmt.Errorf("%w: %s: %w", ErrUnsupported, spec, err)
	case errors.Is(err, spm.ErrFormat), errors.Is(err, bpe.ErrFormat), errors.Is(err, gguf.ErrFormat):
		return fmt.Errorf("%w: %s: %w", ErrFormat, spec, err)
	}
	return fmt.Errorf("tokenizer: %s: %w", spec, err)
}

// FromGGUF builds a tokenizer from a GGUF file's tokenizer.ggml.* metadata:
// "llama" is SentencePiece BPE, "gpt2" byte-level BPE; any other model
// (for example WordPiece "bert") gives ErrUnsupported. The file may be
// closed afterwards.
func FromGGUF(f *gguf.File) (*Tokenizer, error) {
	model, err := f.String("tokenizer.ggml.model")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	name, _ := f.String("general.name")
	switch model {
	case "llama":
		m, err := spm.LoadGGUF(f)
		if err != nil {
			return nil, wrapLoad("gguf", err)
		}
		return fromSPM(name, m), nil
	case "gpt2":
		l, err := bpe.LoadGGUF(f)
		if err != nil {
			return nil, wrapLoad("gguf", err)
		}
		return fromBPE(name, l, false)
	}
	return nil, fmt.Errorf("%w: tokenizer.ggml.model %q (supported: \"llama\" SentencePiece BPE, \"gpt2\" byte-level BPE)", ErrUnsupported, model)
}

func fromSPM(name string, m *spm.Model) *Tokenizer {
	t := &Tokenizer{
		name: name, kind: KindSPM, sp: m,
		bos: m.BOS(), eos: m.EOS(), addBOS: m.AddBOS(), addEOS: m.AddEOS(),
		vocabSize: m.VocabSize(),
	}
	var always, all []matchToken
	for _, s := range m.Specials() {
		mt := matchToken{text: s.Text, id: s.ID, lstrip: s.LStrip, rstrip: s.RStrip}
		all = append(all, mt)
		if s.Type == spm.UserDefined {
			always = append(always, mt)
		}
	}
	t.always, t.all = newMatcher(always), newMatcher(all)
	return t
}

func fromBPE(name string, l *bpe.Loaded, renderSpecial bool) (*Tokenizer, error) {
	if l == nil || l.Model == nil {
		return nil, fmt.Errorf("%w: empty BPE vocabulary", ErrFormat)
	}
	t := &Tokenizer{
		name: name, kind: KindBPE, bp: l.Model,
		bos: l.BOS, eos: l.EOS, addBOS: l.AddBOS && l.BOS >= 0, addEOS: l.AddEOS && l.EOS >= 0,
		vocabSize: l.Model.VocabSize(), specials: make(map[int32]bpe.Special, len(l.Specials)),
		renderSpecial: renderSpecial,
	}
	var always, all []matchToken
	for _, s := range l.Specials {
		if s.ID < 0 {
			return nil, fmt.Errorf("%w: special token %q has id %d", ErrFormat, s.Text, s.ID)
		}
		t.specials[s.ID] = s
		t.vocabSize = max(t.vocabSize, int(s.ID)+1)
		mt := matchToken{text: s.Text, id: s.ID}
		all = append(all, mt)
		if s.UserDefined {
			always = append(always, mt)
		}
	}
	t.always, t.all = newMatcher(always), newMatcher(all)
	return t, nil
}

// Name returns the vocabulary's name: the tiktoken name, the file name, or
// general.name for FromGGUF.
func (t *Tokenizer) Name() string { return t.name }

// Kind returns KindSPM or KindBPE.
func (t *Tokenizer) Kind() string { return t.kind }

// BOS returns the beginning-of-sequence id, -1 when the vocabulary has none.
func (t *Tokenizer) BOS() int32 { return t.bos }

// EOS returns the end-of-sequence id, -1 when the vocabulary has none.
func (t *Tokenizer) EOS() int32 { return t.eos }

// DefaultAddBOS reports whether the vocabulary asks for BOS before a prompt
// (tokenizer.ggml.add_bos_token; always for llama2.c; never for tiktoken).
func (t *Tokenizer) DefaultAddBOS() bool { return t.addBOS }

// DefaultAddEOS reports whether the vocabulary asks for EOS after a prompt.
func (t *Tokenizer) DefaultAddEOS() bool { return t.addEOS }

// VocabSize returns one more than the largest token id.
func (t *Tokenizer) VocabSize() int { return t.vocabSize }

// IsControl reports whether id is a control token (BOS, EOS, chat markers,
// tiktoken's special tokens): one that Decode of a GGUF vocabulary drops
// and that a model's output ends on.
func (t *Tokenizer) IsControl(id int32) bool {
	if t.sp != nil {
		return t.sp.Type(id) == spm.Control
	}
	s, ok := t.specials[id]
	return ok && !s.UserDefined
}

// TokenText returns the text a token stands for on its own: special tokens
// as written ("<s>", "<|endoftext|>"), ordinary tokens as their bytes (the
// SentencePiece space mark as ' ', a byte token as its byte). It returns ""
// for an id out of range. The text may be part of a UTF-8 sequence.
func (t *Tokenizer) TokenText(id int32) string {
	if t.sp != nil {
		switch t.sp.Type(id) {
		case spm.Control, spm.Unknown, spm.UserDefined:
			return t.sp.Piece(id)
		}
		return string(t.sp.AppendPiece(nil, id, false))
	}
	if s, ok := t.specials[id]; ok {
		return s.Text
	}
	return string(t.bp.TokenBytes(id))
}
