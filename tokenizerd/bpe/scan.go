package bpe

// A matcher is one pre-tokenizer regex, matched anchored at s[i]: it returns
// the end of the match, or -1 when the regex has no match starting at i. s is
// the fragment being split, so end-of-text conditions ($, (?!\S)) refer to its
// end, as in the reference implementations, which split fragment by fragment.
type matcher func(s string, i int, bmp []uint16) int

// contractionCS matches 's|'t|'re|'ve|'m|'ll|'d at s[i] (case-sensitive).
func contractionCS(s string, i int) int {
	if i+1 >= len(s) || s[i] != '\'' {
		return -1
	}
	switch s[i+1] {
	case 's', 't', 'm', 'd':
		return i + 2
	case 'r', 'v':
		if i+2 < len(s) && s[i+2] == 'e' {
			return i + 3
		}
	case 'l':
		if i+2 < len(s) && s[i+2] == 'l' {
			return i + 3
		}
	}
	return -1
}

// contractionCI matches (?i:'s|'t|'re|'ve|'m|'ll|'d) at s[i]. With longS the
// match follows Unicode simple case folding as the Rust regex and Oniguruma
// engines do, where ſ (U+017F) folds to s; llama.cpp's rewrite of the pattern
// ('[sS]) does not.
func contractionCI(s string, i int, longS bool) int {
	if i+1 >= len(s) || s[i] != '\'' {
		return -1
	}
	switch s[i+1] | 0x20 {
	case 's', 't', 'm', 'd':
		if s[i+1] >= 'A' && s[i+1] <= 'z' {
			return i + 2
		}
	case 'r', 'v':
		if i+2 < len(s) && s[i+2]|0x20 == 'e' {
			return i + 3
		}
	case 'l':
		if i+2 < len(s) && s[i+2]|0x20 == 'l' {
			return i + 3
		}
	}
	if longS && s[i+1] == 0xC5 && i+2 < len(s) && s[i+2] == 0xBF {
		return i + 3
	}
	return -1
}

// run extends from i while the class of each code point has a bit of mask.
func run(s string, i int, mask uint16, bmp []uint16) int {
	for i < len(s) {
		b := s[i]
		if b < 0x80 {
			if asciiClass[b]&mask == 0 {
				return i
			}
			i++
			continue
		}
		c, n := charAt(s, i, bmp)
		if c&mask == 0 {
			return i
		}
		i += n
	}
	return i
}

// wsTail handles the whitespace alternatives shared by the GPT-2 style
// patterns: \s+(?!\S)|\s+ starting at a whitespace code point at s[i].
func wsTail(s string, i int, bmp []uint16) int {
	q, last := i, i
	for q < len(s) {
		c, n := charAt(s, q, bmp)
		if c&cWS == 0 {
			break
		}
		last = q
		q += n
	}
	if q == len(s) || last == i {
		return q // to the end, or a single code point (\s+ fallback)
	}
	return last // leave the last one to the following piece
}

// matchGPT2 is 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// (GPT-2; llama.cpp lists it without the final \s+, which changes nothing
// since a lone unmatched code point becomes a piece of its own either way).
func matchGPT2(s string, i int, bmp []uint16) int {
	if s[i] == '\'' {
		if e := contractionCS(s, i); e > 0 {
			return e
		}
	}
	j := i
	if s[i] == ' ' && i+1 < len(s) {
		j = i + 1
	}
	c, n := charAt(s, j, bmp)
	switch {
	case c&cL != 0:
		return run(s, j+n, cL, bmp)
	case c&cN != 0:
		return run(s, j+n, cN, bmp)
	case c&(cWS|cL|cN) == 0:
		return runOther(s, j+n, bmp)
	}
	return wsTail(s, i, bmp)
}

// runOther extends over [^\s\p{L}\p{N}].
func runOther(s string, i int, bmp []uint16) int {
	for i < len(s) {
		c, n := charAt(s, i, bmp)
		if c&(cWS|cL|cN) != 0 {
			return i
		}
		i += n
	}
	return i
}

// wsNewline handles \s*[\r\n]+|\s+(?!\S)|\s+ at a whitespace code point.
func wsNewline(s string, i int, bmp []uint16) int {
	q, last, nl := i, i, -1
	for q < len(s) {
		c, n := charAt(s, q, bmp)
		if c&cWS == 0 {
			break
		}
		if c&cCRLF != 0 {
			nl = q
		}
		last = q
		q += n
	}
	if nl >= 0 {
		return nl + 1
	}
	if q == len(s) || last == i {
		return q
	}
	return last
}

// llama3Matcher returns the matcher of
// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,D}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
// with D = maxDigits (3: cl100k, Llama 3; 1: Qwen2).
func llama3Matcher(maxDigits int, longS bool) matcher {
	return func(s string, i int, bmp []uint16) int {
		if s[i] == '\'' {
			if e := contractionCI(s, i, longS); e > 0 {
				return e
			}
		}
		c, n := charAt(s, i, bmp)
		if c&cL != 0 {
			return run(s, i+n, cL, bmp)
		}
		if c&(cCRLF|cN) == 0 && i+n < len(s) {
			if c2, n2 := charAt(s, i+n, bmp); c2&cL != 0 {
				return run(s, i+n+n2, cL, bmp)
			}
		}
		if c&cN != 0 {
			e := i + n
			for k := 1; k < maxDigits && e < len(s); k++ {
				c2, n2 := charAt(s, e, bmp)
				if c2&cN == 0 {
					break
				}
				e += n2
			}
			return e
		}
		j := i
		if s[i] == ' ' && i+1 < len(s) {
			j = i + 1
		}
		if c2, n2 := charAt(s, j, bmp); c2&(cWS|cL|cN) == 0 {
			e := runOther(s, j+n2, bmp)
			for e < len(s) && (s[e] == '\r' || s[e] == '\n') {
				e++
			}
			return e
		}
		return wsNewline(s, i, bmp)
	}
}

// o200kMatcher returns the matcher of the o200k_base pattern:
//
//	[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?
//	|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?
//	|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
func o200kMatcher(longS bool) matcher {
	return func(s string, i int, bmp []uint16) int {
		c, n := charAt(s, i, bmp)
		// Start positions for the two letter alternatives, in the order a
		// backtracking engine tries them: with the optional prefix, then without.
		var starts [2]int
		ns := 0
		if c&(cCRLF|cL|cN) == 0 && i+n < len(s) {
			starts[ns] = i + n
			ns++
		}
		if c&(cL|cM) != 0 {
			starts[ns] = i
			ns++
		}
		for alt := 1; alt <= 2; alt++ {
			for k := 0; k < ns; k++ {
				if e := caseWord(s, starts[k], alt, bmp); e > 0 {
					if e < len(s) && s[e] == '\'' {
						if e2 := contractionCI(s, e, longS); e2 > 0 {
							return e2
						}
					}
					return e
				}
			}
		}
		if c&cN != 0 {
			e := i + n
			for k := 1; k < 3 && e < len(s); k++ {
				c2, n2 := charAt(s, e, bmp)
				if c2&cN == 0 {
					break
				}
				e += n2
			}
			return e
		}
		j := i
		if s[i] == ' ' && i+1 < len(s) {
			j = i + 1
		}
		if c2, n2 := charAt(s, j, bmp); c2&(cWS|cL|cN) == 0 {
			e := runOther(s, j+n2, bmp)
			for e < len(s) && (s[e] == '\r' || s[e] == '\n' || s[e] == '/') {
				e++
			}
			return e
		}
		return wsNewline(s, i, bmp)
	}
}

// caseWord matches U*W+ (alt 1) or U+W* (alt 2) at st, where U is
// [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}] and W is [\p{Ll}\p{Lm}\p{Lo}\p{M}], with the
// choices a backtracking engine makes. It returns -1 when there is no match.
func caseWord(s string, st, alt int, bmp []uint16) int {
	u, lastBoth, lastBothEnd := st, -1, -1
	for u < len(s) {
		c, n := charAt(s, u, bmp)
		if c&cCaseU == 0 {
			break
		}
		if c&cCaseW != 0 {
			lastBoth, lastBothEnd = u, u+n
		}
		u += n
	}
	if u < len(s) {
		if c, n := charAt(s, u, bmp); c&cCaseW != 0 {
			// U* took the whole run and W+ continues from u (both alternatives
			// give the same match here).
			return run(s, u+n, cCaseW, bmp)
		}
	}
	if alt == 1 {
		if lastBoth >= 0 {
			return lastBothEnd // U* gives back up to the last code point also in W
		}
		return -1
	}
	if u > st {
		return u
	}
	return -1
}
