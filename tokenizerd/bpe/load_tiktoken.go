package bpe

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strconv"

	"github.com/pkoukk/tiktoken-go-loader/assets"
)

// TiktokenNames lists the vocabularies LoadTiktoken embeds.
var TiktokenNames = []string{"cl100k_base", "o200k_base"}

type tiktokenDef struct {
	file     string
	pre      Pretokenizer
	specials []Special
	eos      int32
}

var tiktokenDefs = map[string]tiktokenDef{
	"cl100k_base": {
		file: "cl100k_base.tiktoken", pre: PreCL100K, eos: 100257,
		specials: []Special{
			{Text: "<|endoftext|>", ID: 100257},
			{Text: "<|fim_prefix|>", ID: 100258},
			{Text: "<|fim_middle|>", ID: 100259},
			{Text: "<|fim_suffix|>", ID: 100260},
			{Text: "<|endofprompt|>", ID: 100276},
		},
	},
	"o200k_base": {
		file: "o200k_base.tiktoken", pre: PreO200K, eos: 199999,
		specials: []Special{
			{Text: "<|endoftext|>", ID: 199999},
			{Text: "<|endofprompt|>", ID: 200018},
		},
	},
}

// LoadTiktoken loads an OpenAI tiktoken vocabulary by name ("cl100k_base",
// "o200k_base"). The rank files are embedded in the binary (module
// github.com/pkoukk/tiktoken-go-loader); nothing is downloaded. The special
// tokens are those tiktoken defines; EOS is <|endoftext|>, there is no BOS.
func LoadTiktoken(name string) (*Loaded, error) {
	def, ok := tiktokenDefs[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q (have %v)", ErrUnknownVocab, name, TiktokenNames)
	}
	data, err := assets.Assets.ReadFile(def.file)
	if err != nil {
		return nil, fmt.Errorf("bpe: read embedded %s: %w", def.file, err)
	}
	return parseTiktoken(data, def)
}

// parseTiktoken parses "base64 rank" lines.
func parseTiktoken(data []byte, def tiktokenDef) (*Loaded, error) {
	type ent struct {
		rank   int
		off, n uint32
	}
	ents := make([]ent, 0, bytes.Count(data, []byte{'\n'})+1)
	arena := make([]byte, 0, len(data)*3/4)
	maxRank := -1
	for line := 1; len(data) > 0; line++ {
		var l []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			l, data = data[:i], data[i+1:]
		} else {
			l, data = data, nil
		}
		if len(l) == 0 {
			continue
		}
		sp := bytes.IndexByte(l, ' ')
		if sp < 0 {
			return nil, fmt.Errorf("%w: %s line %d: no space", ErrFormat, def.file, line)
		}
		rank, err := strconv.Atoi(string(l[sp+1:]))
		if err != nil || rank < 0 || rank > 1<<24 {
			return nil, fmt.Errorf("%w: %s line %d: bad rank", ErrFormat, def.file, line)
		}
		off := len(arena)
		arena = append(arena, make([]byte, base64.StdEncoding.DecodedLen(sp))...)
		n, err := base64.StdEncoding.Decode(arena[off:], l[:sp])
		if err != nil || n == 0 {
			return nil, fmt.Errorf("%w: %s line %d: bad base64", ErrFormat, def.file, line)
		}
		arena = arena[:off+n]
		ents = append(ents, ent{rank, uint32(off), uint32(n)})
		maxRank = max(maxRank, rank)
	}
	for _, s := range def.specials {
		maxRank = max(maxRank, int(s.ID))
	}
	// Lay the tokens out by id: ranks are ids in tiktoken.
	nv := maxRank + 1
	spans := make([][2]uint32, nv)
	seen := make([]bool, nv)
	for _, e := range ents {
		if seen[e.rank] {
			return nil, fmt.Errorf("%w: %s: rank %d twice", ErrFormat, def.file, e.rank)
		}
		seen[e.rank] = true
		spans[e.rank] = [2]uint32{e.off, e.off + e.n}
	}
	ordered := make([]byte, 0, len(arena)+64)
	offs := make([]uint32, nv+1)
	ordinary := make([]bool, nv)
	special := make(map[int32]string, len(def.specials))
	for _, s := range def.specials {
		special[s.ID] = s.Text
	}
	for id := 0; id < nv; id++ {
		offs[id] = uint32(len(ordered))
		if t, ok := special[int32(id)]; ok {
			ordered = append(ordered, t...)
			continue
		}
		if seen[id] {
			ordered = append(ordered, arena[spans[id][0]:spans[id][1]]...)
			ordinary[id] = true
		}
	}
	offs[nv] = uint32(len(ordered))
	m, err := buildModel(vocabSpec{pre: def.pre, longS: true, arena: ordered, offs: offs, ordinary: ordinary, wholeOK: true})
	if err != nil {
		return nil, err
	}
	for c := 0; c < 256; c++ {
		if m.byteID[c] < 0 {
			return nil, fmt.Errorf("%w: %s: byte %#x has no token", ErrFormat, def.file, c)
		}
	}
	return &Loaded{Model: m, Specials: append([]Special(nil), def.specials...), BOS: -1, EOS: def.eos}, nil
}
