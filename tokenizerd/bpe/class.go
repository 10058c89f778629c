package bpe

import (
	"sync"
	"unicode"
	"unicode/utf8"
)

// Character classes used by the pre-tokenizer scanners. A code point can be
// in several classes at once.
const (
	cL         uint16 = 1 << iota // \p{L}
	cN                            // \p{N}
	cWS                           // White_Space (the \s of the reference regex engines)
	cUpper                        // \p{Lu} | \p{Lt}
	cLower                        // \p{Ll}
	cLmLo                         // \p{Lm} | \p{Lo}
	cM                            // \p{M}
	cP                            // \p{P}
	cCRLF                         // \r or \n
	cDSLetter                     // the letter class of the deepseek-llm pre-tokenizer
	cDSPunct                      // the punctuation class of the deepseek-llm pre-tokenizer
	cDSHan                        // [一-龥ࠀ-一가-퟿] of the deepseek pre-tokenizers
	cFalconSym                    // $ + < = > ^ ~ | (added to \p{P} by the falcon and default pre-tokenizers)
	cDigit                        // [0-9]
	cBacktick                     // ` (added by falcon only)
)

// Derived masks.
const (
	cCaseU = cUpper | cLmLo | cM // [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]
	cCaseW = cLower | cLmLo | cM // [\p{Ll}\p{Lm}\p{Lo}\p{M}]
)

// The deepseek-llm classes, copied from llama.cpp src/llama-vocab.cpp.
const (
	dsLetterClass = "A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃"
	dsPunctClass  = "!-/:-~！-／：-～‘-‟　-。"
	dsHanClass    = "一-龥ࠀ-一가-퟿"
)

type runeRange struct{ lo, hi rune }

// parseClass turns a regex bracket body made of literal code points and
// X-Y ranges into ranges.
func parseClass(s string) []runeRange {
	rs := []rune(s)
	var out []runeRange
	for i := 0; i < len(rs); i++ {
		if i+2 < len(rs) && rs[i+1] == '-' {
			out = append(out, runeRange{rs[i], rs[i+2]})
			i += 2
			continue
		}
		out = append(out, runeRange{rs[i], rs[i]})
	}
	return out
}

var (
	classOnce  sync.Once
	bmpClass   []uint16 // class of every code point below 0x10000
	dsLetterRs []runeRange
)

var asciiClass [128]uint16

func init() {
	for c := 0; c < 128; c++ {
		asciiClass[c] = slowClass(rune(c))
	}
}

// classTables builds the BMP class table once, from the Unicode range tables
// (setting ranges directly instead of testing each code point).
func classTables() []uint16 {
	classOnce.Do(func() {
		t := make([]uint16, 0x10000)
		set := func(tab *unicode.RangeTable, bit uint16) {
			for _, r := range tab.R16 {
				for c := uint32(r.Lo); c <= uint32(r.Hi); c += uint32(r.Stride) {
					t[c] |= bit
				}
			}
		}
		set(unicode.L, cL)
		set(unicode.N, cN)
		set(unicode.White_Space, cWS)
		set(unicode.Lu, cUpper)
		set(unicode.Lt, cUpper)
		set(unicode.Ll, cLower)
		set(unicode.Lm, cLmLo)
		set(unicode.Lo, cLmLo)
		set(unicode.M, cM)
		set(unicode.P, cP)
		setRanges := func(rs []runeRange, bit uint16) {
			for _, r := range rs {
				for c := r.lo; c <= r.hi && c < 0x10000; c++ {
					t[c] |= bit
				}
			}
		}
		dsLetterRs = parseClass(dsLetterClass)
		setRanges(dsLetterRs, cDSLetter)
		setRanges(parseClass(dsPunctClass), cDSPunct)
		setRanges(parseClass(dsHanClass), cDSHan)
		for _, c := range "$+<=>^~|" {
			t[c] |= cFalconSym
		}
		t['`'] |= cBacktick
		t['\r'] |= cCRLF
		t['\n'] |= cCRLF
		for c := '0'; c <= '9'; c++ {
			t[c] |= cDigit
		}
		bmpClass = t
	})
	return bmpClass
}

// slowClass computes the class of r from the Unicode tables.
func slowClass(r rune) uint16 {
	var c uint16
	is := func(t *unicode.RangeTable, bit uint16) {
		if unicode.Is(t, r) {
			c |= bit
		}
	}
	is(unicode.L, cL)
	is(unicode.N, cN)
	is(unicode.White_Space, cWS)
	is(unicode.Lu, cUpper)
	is(unicode.Lt, cUpper)
	is(unicode.Ll, cLower)
	is(unicode.Lm, cLmLo)
	is(unicode.Lo, cLmLo)
	is(unicode.M, cM)
	is(unicode.P, cP)
	inRanges := func(rs []runeRange, bit uint16) {
		for _, x := range rs {
			if r >= x.lo && r <= x.hi {
				c |= bit
				return
			}
		}
	}
	inRanges(parseClassCached(dsLetterClass), cDSLetter)
	inRanges(parseClassCached(dsPunctClass), cDSPunct)
	inRanges(parseClassCached(dsHanClass), cDSHan)
	switch r {
	case '$', '+', '<', '=', '>', '^', '~', '|':
		c |= cFalconSym
	case '`':
		c |= cBacktick
	case '\r', '\n':
		c |= cCRLF
	}
	if r >= '0' && r <= '9' {
		c |= cDigit
	}
	return c
}

var classCache sync.Map // string -> []runeRange

func parseClassCached(s string) []runeRange {
	if v, ok := classCache.Load(s); ok {
		return v.([]runeRange)
	}
	v := parseClass(s)
	classCache.Store(s, v)
	return v
}

// invalidClass is the class of a byte that does not start a valid UTF-8
// sequence: it behaves like a symbol (as U+FFFD would) and spans one byte.
const invalidClass uint16 = 0

// charAt decodes the code point at s[i] and returns its class and size.
// i must be < len(s).
func charAt(s string, i int, bmp []uint16) (uint16, int) {
	b := s[i]
	if b < utf8.RuneSelf {
		return asciiClass[b], 1
	}
	r, size := utf8.DecodeRuneInString(s[i:])
	if r == utf8.RuneError && size == 1 {
		return invalidClass, 1
	}
	if r < 0x10000 {
		return bmp[r], size
	}
	return slowClass(r), size
}

// runeAt returns the code point at s[i] (RuneError for an invalid byte) and
// its size.
func runeAt(s string, i int) (rune, int) {
	b := s[i]
	if b < utf8.RuneSelf {
		return rune(b), 1
	}
	return utf8.DecodeRuneInString(s[i:])
}
