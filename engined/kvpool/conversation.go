package kvpool

import "container/list"

// conversation remembers the chain of indexed blocks the last finished
// sequence of a conversation left behind, by hash: the blocks themselves may
// be evicted and reused, so every use resolves the hashes through the index.
type conversation struct {
	id     string
	seed   Seed
	hashes []BlockHash
	elem   *list.Element
}

// conversations is a bounded map of conversation records, least recently
// used forgotten first.
type conversations struct {
	max   int
	byID  map[string]*conversation
	order list.List // front = most recently used
}

func (c *conversations) init(max int) {
	c.max = max
	c.byID = make(map[string]*conversation)
	c.order.Init()
}

func (c *conversations) clear() { c.init(c.max) }

func (c *conversations) remove(cv *conversation) {
	c.order.Remove(cv.elem)
	delete(c.byID, cv.id)
}

// conversationLocked returns the record of id if caching is on and the record
// was made under the same seed (same salt).
func (p *Pool) conversationLocked(id string, seed Seed) *conversation {
	if id == "" || !p.flags.Enabled {
		return nil
	}
	cv := p.convs.byID[id]
	if cv == nil || cv.seed != seed {
		return nil
	}
	return cv
}

// recordConversationLocked stores the indexed prefix of s's table as its
// conversation's chain.
func (p *Pool) recordConversationLocked(s *Sequence) {
	cv := p.convs.byID[s.convID]
	if s.indexed == 0 {
		if cv != nil && cv.seed == s.seed {
			// Keep the previous turn's record: it may still be cached.
			p.convs.order.MoveToFront(cv.elem)
		}
		return
	}
	if cv == nil {
		cv = &conversation{id: s.convID}
		cv.elem = p.convs.order.PushFront(cv)
		p.convs.byID[s.convID] = cv
		if p.convs.order.Len() > p.convs.max {
			p.convs.remove(p.convs.order.Back().Value.(*conversation))
		}
	} else {
		p.convs.order.MoveToFront(cv.elem)
	}
	cv.seed = s.seed
	cv.hashes = append(cv.hashes[:0], s.hashes[:s.indexed]...)
}

// Touch marks the cached blocks of a conversation's last turn as the most
// recently used (deepest block still evicted first), so they survive while
// the conversation's next request waits. Acquire with a ConversationID
// touches automatically; call Touch when a turn is queued before Acquire.
// It returns how many blocks of the chain are still held (cached or in use);
// a record whose chain is gone entirely is forgotten.
func (p *Pool) Touch(conversationID string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.flags.Enabled {
		return 0
	}
	cv := p.convs.byID[conversationID]
	if cv == nil {
		return 0
	}
	n := p.touchLocked(cv)
	if n == 0 {
		p.convs.remove(cv)
	}
	return n
}

// touchLocked moves the still-indexed prefix of cv's chain to the MRU end
// of the LRU, deepest first, and returns its length.
func (p *Pool) touchLocked(cv *conversation) int {
	p.convs.order.MoveToFront(cv.elem)
	chain := p.scratch[:0]
	parent := none
	for _, h := range cv.hashes {
		b, ok := p.index[h]
		if !ok {
			break
		}
		m := &p.blocks[b]
		if m.parent != parent || (parent == none && m.parentHash != cv.seed.Root()) {
			break
		}
		chain = append(chain, b)
		parent = b
	}
	for i := len(chain) - 1; i >= 0; i-- {
		if b := chain[i]; p.blocks[b].inLRU {
			p.lruRemove(b)
			p.lruPushBack(b)
		}
	}
	p.scratch = chain[:0]
	return len(chain)
}

// Conversations returns the number of conversation records held.
func (p *Pool) Conversations() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.convs.byID)
}
