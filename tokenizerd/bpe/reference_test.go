package bpe

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// naiveBPE is the textbook quadratic BPE: repeatedly merge the lowest-ranked
// adjacent pair, the leftmost on ties. rank returns the rank and merged id of
// two adjacent parts, ok false when they do not merge.
func naiveBPE(p string, byteID func(byte) int32, rank func(a, b string, x, y int32) (uint32, int32, bool)) []int32 {
	type part struct {
		s  string
		id int32
	}
	parts := make([]part, len(p))
	for i := 0; i < len(p); i++ {
		parts[i] = part{p[i : i+1], byteID(p[i])}
	}
	ranks := make([]uint32, len(parts))
	ids := make([]int32, len(parts))
	pair := func(i int) {
		ranks[i] = noRank
		if i+1 < len(parts) {
			if r, id, ok := rank(parts[i].s, parts[i+1].s, parts[i].id, parts[i+1].id); ok {
				ranks[i], ids[i] = r, id
			}
		}
	}
	for i := range parts {
		pair(i)
	}
	for {
		best := -1
		for i := 0; i+1 < len(parts); i++ {
			if ranks[i] != noRank && (best < 0 || ranks[i] < ranks[best]) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		parts[best] = part{parts[best].s + parts[best+1].s, ids[best]}
		parts = slices.Delete(parts, best+1, best+2)
		ranks = slices.Delete(ranks, best+1, best+2)
		ids = slices.Delete(ids, best+1, best+2)
		pair(best)
		if best > 0 {
			pair(best - 1)
		}
	}
	out := make([]int32, 0, len(parts))
	for _, pt := range parts {
		out = append(out, pt.id)
	}
	return out
}

// reference returns the naive BPE of one piece with m's vocabulary, built
// independently of the model's tables (a Go map of token bytes; the merges
// table read back into a map).
func reference(t testing.TB, m *Model) func(p string) []int32 {
	t.Helper()
	byBytes := map[string]int32{}
	for id := int32(0); int(id) < m.VocabSize(); id++ {
		if b := m.TokenBytes(id); b != nil {
			if got, ok := m.vocab.lookup(string(b)); ok && got == id {
				byBytes[string(b)] = id
			}
		}
	}
	byteID := func(c byte) int32 {
		if id, ok := byBytes[string([]byte{c})]; ok {
			return id
		}
		return -1
	}
	var rank func(a, b string, x, y int32) (uint32, int32, bool)
	if m.merges == nil {
		rank = func(a, b string, x, y int32) (uint32, int32, bool) {
			id, ok := byBytes[a+b]
			return uint32(id), id, ok
		}
	} else {
		type pr struct{ x, y int32 }
		mm := map[pr][2]uint32{}
		for i, k := range m.merges.keys {
			if k != 0 {
				v := m.merges.vals[i]
				mm[pr{int32(uint32(k>>32)) - 1, int32(uint32(k)) - 1}] = [2]uint32{uint32(v >> 32), uint32(v)}
			}
		}
		rank = func(a, b string, x, y int32) (uint32, int32, bool) {
			v, ok := mm[pr{x, y}]
			return v[0], int32(v[1]), ok
		}
	}
	return func(p string) []int32 { return naiveBPE(p, byteID, rank) }
}

// TestLongPiecesMatchReference runs the heap and the windowed merges on long
// pieces (pathological shapes and random text over small alphabets) against
// the naive BPE.
func TestLongPiecesMatchReference(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	var inputs []string
	for _, name := range pathologicalNames {
		inputs = append(inputs, pathological(name, 6000))
	}
	for _, alpha := range []string{"ab", "abc", "aab", "etaoin", "0123456789", "+/=AZaz09", "ä中a"} {
		rs := []rune(alpha)
		for k := 0; k < 6; k++ {
			var sb strings.Builder
			for sb.Len() < 300+r.IntN(3000) {
				sb.WriteRune(rs[r.IntN(len(rs))])
			}
			inputs = append(inputs, sb.String())
		}
	}
	for _, name := range TiktokenNames {
		m := tiktoken(t, name).Model
		ref := reference(t, m)
		for i, in := range inputs {
			want := ref(in)
			if got := m.mergeWhole(nil, in); !slices.Equal(got, want) {
				t.Fatalf("%s input %d: heap merge differs from reference", name, i)
			}
			for _, w := range [][2]int{{64, 16}, {200, 40}, {1024, 128}} {
				if len(in) <= w[0]+w[1] {
					continue
				}
				if got := m.mergeWindowed(nil, in, w[0], w[1]); !slices.Equal(got, want) {
					t.Fatalf("%s input %d window %v: windowed merge differs from reference", name, i, w)
				}
			}
		}
	}
	t.Logf("windowed merges that fell back to one heap run: %d", windowFallbacks.Load())
	// Merge-table vocabularies use the heap merge only.
	l := loadGGUFVocab(t, "gpt-2")
	ref := reference(t, l.Model)
	for i, in := range inputs {
		if got, want := l.Model.mergeWhole(nil, in), ref(in); !slices.Equal(got, want) {
			t.Fatalf("gpt-2 input %d: heap merge differs from reference", i)
		}
	}
}

// TestShortPiecesMatchReference compares the stack-array merge with the
// reference on every short piece of the golden texts and random strings.
func TestShortPiecesMatchReference(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, name := range []string{"cl100k_base", "gpt-2"} {
		var m *Model
		if name == "gpt-2" {
			m = loadGGUFVocab(t, name).Model
		} else {
			m = tiktoken(t, name).Model
		}
		ref := reference(t, m)
		for k := 0; k < 3000; k++ {
			n := 2 + r.IntN(maxSmall-1)
			b := make([]byte, n)
			for i := range b {
				b[i] = "abcdefghij klmnop\nAB.,'0123"[r.IntN(27)]
			}
			p := string(b)
			if got, want := m.bpe(nil, p), ref(p); !slices.Equal(got, want) {
				t.Fatalf("%s %q: got %v want %v", name, p, got, want)
			}
		}
	}
}

// TestTiktokenTokensSelfEncode checks the precondition of the windowed merge:
// the BPE of every token's bytes is that token.
func TestTiktokenTokensSelfEncode(t *testing.T) {
	for _, name := range TiktokenNames {
		m := tiktoken(t, name).Model
		bad := 0
		for id := int32(0); int(id) < m.VocabSize(); id++ {
			b := m.TokenBytes(id)
			if got, ok := m.vocab.lookup(string(b)); !ok || got != id || len(b) < 2 {
				continue // special, unused or single byte
			}
			if out := m.bpe(nil, string(b)); len(out) != 1 || out[0] != id {
				bad++
				if bad < 5 {
					t.Errorf("%s token %d %q encodes as %v", name, id, b, out)
				}
			}
		}
		if bad > 0 {
			t.Errorf("%s: %d tokens do not encode as themselves", name, bad)
		}
	}
}

// mulberry32 is the PRNG of testdata/gen/gen.mjs, bit for bit.
type mulberry32 uint32

func (m *mulberry32) next() float64 {
	*m += 0x6d2b79f5
	a := uint32(*m)
	t := (a ^ a>>15) * (1 | a)
	t = (t + (t^t>>7)*(61|t)) ^ t
	return float64(t^t>>14) / 4294967296
}

// pathologicalGoldenText regenerates the inputs of testdata/pathological.jsonl.
func pathologicalGoldenText(name string) string {
	r := mulberry32(map[string]uint32{"one-letter": 1, "random-letters": 2, "han": 3, "base64": 4}[name])
	const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	var sb strings.Builder
	switch name {
	case "one-letter":
		return strings.Repeat("a", 102400)
	case "random-letters":
		for i := 0; i < 102400; i++ {
			sb.WriteByte(byte('a' + int(r.next()*26)))
		}
	case "han":
		for i := 0; i < 30720; i++ {
			sb.WriteRune(rune(0x4e00 + int(r.next()*(0x9fa5-0x4e00))))
		}
	case "base64":
		for i := 0; i < 102400; i++ {
			sb.WriteByte(b64[int(r.next()*64)])
		}
	}
	return sb.String()
}

// TestPathologicalGolden compares the 100 KB pathological inputs with the
// reference tiktoken (token count and SHA-256 of the ids).
func TestPathologicalGolden(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "pathological.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var g struct {
			Name, Vocab string
			Bytes       int
			Tokens      int
			IDsSHA256   string `json:"ids_sha256"`
		}
		if err := json.Unmarshal([]byte(line), &g); err != nil {
			t.Fatal(err)
		}
		text := pathologicalGoldenText(g.Name)
		if len(text) != g.Bytes {
			t.Fatalf("%s: regenerated %d bytes, golden has %d", g.Name, len(text), g.Bytes)
		}
		ids := tiktoken(t, g.Vocab).Model.Encode(nil, text)
		strs := make([]string, len(ids))
		for i, id := range ids {
			strs[i] = strconv.Itoa(int(id))
		}
		sum := sha256.Sum256([]byte(strings.Join(strs, ",")))
		if len(ids) != g.Tokens || hex.EncodeToString(sum[:]) != g.IDsSHA256 {
			t.Errorf("%s %s: %d tokens (sha %x), reference %d tokens (sha %s)", g.Name, g.Vocab, len(ids), sum[:6], g.Tokens, g.IDsSHA256[:12])
		}
	}
}
