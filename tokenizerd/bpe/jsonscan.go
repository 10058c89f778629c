package bpe

import (
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// jscan is a minimal JSON reader used to walk the large parts of a
// tokenizer.json (model.vocab, model.merges) without building generic values.
// Strings without escapes are returned as substrings of src, so the walk
// allocates little. Every method returns false on malformed input.
type jscan struct {
	src   string
	i     int
	depth int
}

const jsonMaxDepth = 200

func (r *jscan) ws() {
	for r.i < len(r.src) {
		switch r.src[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

func (r *jscan) peek() byte {
	r.ws()
	if r.i < len(r.src) {
		return r.src[r.i]
	}
	return 0
}

func (r *jscan) eat(c byte) bool {
	if r.peek() == c {
		r.i++
		return true
	}
	return false
}

// str reads a string value.
func (r *jscan) str() (string, bool) {
	if !r.eat('"') {
		return "", false
	}
	start := r.i
	for r.i < len(r.src) {
		c := r.src[r.i]
		switch {
		case c == '"':
			s := r.src[start:r.i]
			r.i++
			if !utf8.ValidString(s) {
				return "", false
			}
			return s, true
		case c == '\\':
			return r.strSlow(start)
		case c < 0x20:
			return "", false
		}
		r.i++
	}
	return "", false
}

func (r *jscan) strSlow(start int) (string, bool) {
	buf := []byte(r.src[start:r.i])
	for r.i < len(r.src) {
		c := r.src[r.i]
		switch {
		case c == '"':
			r.i++
			if !utf8.Valid(buf) {
				return "", false
			}
			return string(buf), true
		case c < 0x20:
			return "", false
		case c != '\\':
			buf = append(buf, c)
			r.i++
			continue
		}
		if r.i+1 >= len(r.src) {
			return "", false
		}
		e := r.src[r.i+1]
		r.i += 2
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			x, ok := r.hex4()
			if !ok {
				return "", false
			}
			rn := rune(x)
			if utf16.IsSurrogate(rn) {
				rn = utf8.RuneError
				if r.i+1 < len(r.src) && r.src[r.i] == '\\' && r.src[r.i+1] == 'u' {
					save := r.i
					r.i += 2
					if y, ok := r.hex4(); ok {
						if d := utf16.DecodeRune(rune(x), rune(y)); d != utf8.RuneError {
							rn = d
						} else {
							r.i = save
						}
					} else {
						return "", false
					}
				}
			}
			buf = utf8.AppendRune(buf, rn)
		default:
			return "", false
		}
	}
	return "", false
}

func (r *jscan) hex4() (int, bool) {
	if r.i+4 > len(r.src) {
		return 0, false
	}
	x, err := strconv.ParseUint(r.src[r.i:r.i+4], 16, 32)
	if err != nil {
		return 0, false
	}
	r.i += 4
	return int(x), true
}

// int reads an integer value.
func (r *jscan) int() (int64, bool) {
	r.ws()
	start := r.i
	if r.i < len(r.src) && r.src[r.i] == '-' {
		r.i++
	}
	for r.i < len(r.src) && r.src[r.i] >= '0' && r.src[r.i] <= '9' {
		r.i++
	}
	if r.i < len(r.src) {
		switch r.src[r.i] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	v, err := strconv.ParseInt(r.src[start:r.i], 10, 64)
	return v, err == nil
}

// object calls fn for each key with the reader positioned at the value; fn
// must consume the value.
func (r *jscan) object(fn func(key string) bool) bool {
	if !r.eat('{') {
		return false
	}
	if r.depth++; r.depth > jsonMaxDepth {
		return false
	}
	defer func() { r.depth-- }()
	if r.eat('}') {
		return true
	}
	for {
		k, ok := r.str()
		if !ok || !r.eat(':') || !fn(k) {
			return false
		}
		if r.eat(',') {
			continue
		}
		return r.eat('}')
	}
}

// array calls fn for each element; fn must consume it.
func (r *jscan) array(fn func() bool) bool {
	if !r.eat('[') {
		return false
	}
	if r.depth++; r.depth > jsonMaxDepth {
		return false
	}
	defer func() { r.depth-- }()
	if r.eat(']') {
		return true
	}
	for {
		if !fn() {
			return false
		}
		if r.eat(',') {
			continue
		}
		return r.eat(']')
	}
}

// skip consumes any value and returns its raw text.
func (r *jscan) skip() (string, bool) {
	c := r.peek()
	start := r.i
	ok := false
	switch {
	case c == '{':
		ok = r.object(func(string) bool { _, ok := r.skip(); return ok })
	case c == '[':
		ok = r.array(func() bool { _, ok := r.skip(); return ok })
	case c == '"':
		_, ok = r.str()
	case c == 't':
		ok = r.lit("true")
	case c == 'f':
		ok = r.lit("false")
	case c == 'n':
		ok = r.lit("null")
	case c == '-' || (c >= '0' && c <= '9'):
		r.i++
		for r.i < len(r.src) {
			d := r.src[r.i]
			if (d >= '0' && d <= '9') || d == '.' || d == 'e' || d == 'E' || d == '+' || d == '-' {
				r.i++
				continue
			}
			break
		}
		_, err := strconv.ParseFloat(r.src[start:r.i], 64)
		ok = err == nil
	}
	return r.src[start:r.i], ok
}

func (r *jscan) lit(s string) bool {
	if len(r.src)-r.i >= len(s) && r.src[r.i:r.i+len(s)] == s {
		r.i += len(s)
		return true
	}
	return false
}
