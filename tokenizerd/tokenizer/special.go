package tokenizer

import (
	"sort"
	"strings"
)

// matchToken is one token split out of text before encoding.
type matchToken struct {
	text           string
	id             int32
	lstrip, rstrip bool // drop ASCII white space before / after a match
}

// matcher finds special tokens in text: the leftmost match, the longest
// one at that position. It is a byte trie whose root is a 256-entry table,
// so bytes that start no token cost one table load.
type matcher struct {
	root  [256]int32 // child of the root per byte, 0 = none
	nodes []trieNode
	toks  []matchToken
	// first is the one byte every token starts with, when there is one:
	// the scan then jumps with strings.IndexByte.
	first    byte
	oneFirst bool
}

type trieNode struct {
	labels []byte
	kids   []int32
	tok    int32 // index in toks of the token ending here, -1 if none
}

// newMatcher returns nil when there is nothing to match.
func newMatcher(toks []matchToken) *matcher {
	m := &matcher{nodes: []trieNode{{tok: -1}}}
	for _, t := range toks {
		if t.text == "" {
			continue
		}
		n := int32(0)
		for i := 0; i < len(t.text); i++ {
			n = m.child(n, t.text[i])
		}
		if m.nodes[n].tok < 0 {
			m.nodes[n].tok = int32(len(m.toks))
			m.toks = append(m.toks, t)
		}
	}
	if len(m.toks) == 0 {
		return nil
	}
	for i := range m.nodes {
		nd := &m.nodes[i]
		sort.Sort(byLabel{nd})
	}
	firsts := 0
	for c, k := range m.root {
		if k != 0 {
			firsts++
			m.first = byte(c)
		}
	}
	m.oneFirst = firsts == 1
	return m
}

// child returns (creating it if needed) the child of n labelled c.
func (m *matcher) child(n int32, c byte) int32 {
	if n == 0 {
		if k := m.root[c]; k != 0 {
			return k
		}
	} else {
		nd := &m.nodes[n]
		for i, l := range nd.labels {
			if l == c {
				return nd.kids[i]
			}
		}
	}
	k := int32(len(m.nodes))
	m.nodes = append(m.nodes, trieNode{tok: -1})
	if n == 0 {
		m.root[c] = k
	} else {
		m.nodes[n].labels = append(m.nodes[n].labels, c)
		m.nodes[n].kids = append(m.nodes[n].kids, k)
	}
	return k
}

type byLabel struct{ n *trieNode }

func (b byLabel) Len() int           { return len(b.n.labels) }
func (b byLabel) Less(i, j int) bool { return b.n.labels[i] < b.n.labels[j] }
func (b byLabel) Swap(i, j int) {
	b.n.labels[i], b.n.labels[j] = b.n.labels[j], b.n.labels[i]
	b.n.kids[i], b.n.kids[j] = b.n.kids[j], b.n.kids[i]
}

// next returns the first match at or after from: its start, end and token,
// or start -1.
func (m *matcher) next(text string, from int) (int, int, *matchToken) {
	for i := from; i < len(text); i++ {
		if m.oneFirst {
			k := strings.IndexByte(text[i:], m.first)
			if k < 0 {
				break
			}
			i += k
		}
		n := m.root[text[i]]
		if n == 0 {
			continue
		}
		best, bestEnd := int32(-1), 0
		for j := i + 1; ; j++ {
			nd := &m.nodes[n]
			if nd.tok >= 0 {
				best, bestEnd = nd.tok, j
			}
			if j >= len(text) {
				break
			}
			n = nd.find(text[j])
			if n == 0 {
				break
			}
		}
		if best >= 0 {
			return i, bestEnd, &m.toks[best]
		}
	}
	return -1, -1, nil
}

func (nd *trieNode) find(c byte) int32 {
	if len(nd.labels) > 8 {
		i := sort.Search(len(nd.labels), func(i int) bool { return nd.labels[i] >= c })
		if i < len(nd.labels) && nd.labels[i] == c {
			return nd.kids[i]
		}
		return 0
	}
	for i, l := range nd.labels {
		if l == c {
			return nd.kids[i]
		}
	}
	return 0
}

// isSpace is C's isspace in the "C" locale, which llama.cpp strips with.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}
