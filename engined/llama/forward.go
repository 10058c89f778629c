package llama

import (
	"fmt"

	"github.com/krserve/krserve/engined/kernels"
)

// Batch is one forward step over tokens of one or more sequences. Token i
// is Tokens[i] at position Pos[i] of sequence Seq[i], whose KV positions live
// in the blocks Tables[Seq[i]] names (logical block j = positions
// j*BlockSize .. j*BlockSize+BlockSize-1). Each token attends to positions
// 0..Pos[i] of its sequence, so a sequence's earlier positions must already
// be in the arena or come earlier in the same batch. Logits lists the token
// indices whose next-token logits Forward returns, in that order.
type Batch struct {
	Tokens []int32
	Pos    []int32
	Seq    []int32
	Tables [][]int32
	Logits []int32
}

// Reset empties the batch, keeping its capacity.
func (b *Batch) Reset() {
	b.Tokens, b.Pos, b.Seq, b.Logits = b.Tokens[:0], b.Pos[:0], b.Seq[:0], b.Logits[:0]
	b.Tables = b.Tables[:0]
}

// Add appends one token; wantLogits adds it to Logits.
func (b *Batch) Add(token, pos, seq int32, wantLogits bool) {
	if wantLogits {
		b.Logits = append(b.Logits, int32(len(b.Tokens)))
	}
	b.Tokens = append(b.Tokens, token)
	b.Pos = append(b.Pos, pos)
	b.Seq = append(b.Seq, seq)
}

// State is the scratch memory of Forward for batches of up to MaxTokens
// tokens. It is allocated once; Forward does not allocate. A State belongs
// to one goroutine at a time.
type State struct {
	maxTokens int
	dim, qd   int
	x, xb     []float32 // [T][dim] residual stream and normalised copy
	q, att    []float32 // [T][qd]
	k, v      []float32 // [T][kvd]
	tmp       []float32 // [T][dim]
	hb, hb2   []float32 // [T][hidden]
}

// MaxTokens returns the largest batch the State accepts.
func (s *State) MaxTokens() int { return s.maxTokens }

// NewState allocates scratch memory for batches of up to maxBatchTokens
// tokens (at least 1).
func (m *Model) NewState(maxBatchTokens int) *State {
	t := max(1, maxBatchTokens)
	c := m.cfg
	return &State{
		maxTokens: t, dim: c.Dim, qd: c.QDim(),
		x: make([]float32, t*c.Dim), xb: make([]float32, t*c.Dim),
		q: make([]float32, t*c.QDim()), att: make([]float32, t*c.QDim()),
		k: make([]float32, t*c.KVDim()), v: make([]float32, t*c.KVDim()),
		tmp: make([]float32, t*c.Dim),
		hb:  make([]float32, t*c.HiddenDim), hb2: make([]float32, t*c.HiddenDim),
	}
}

// checkBatch validates every index Forward will use.
func (m *Model) checkBatch(st *State, b *Batch, kv *KVArena, logits []float32) error {
	c := m.cfg
	n := len(b.Tokens)
	switch {
	case n == 0:
		return fmt.Errorf("%w: empty batch", ErrBatch)
	case len(b.Pos) != n || len(b.Seq) != n:
		return fmt.Errorf("%w: %d tokens, %d positions, %d sequence indices", ErrBatch, n, len(b.Pos), len(b.Seq))
	case st == nil || n > st.maxTokens || st.dim != c.Dim || st.qd != c.QDim() || len(st.hb) < n*c.HiddenDim:
		return fmt.Errorf("%w: %d tokens do not fit the state (made for another model or a smaller batch)", ErrBatch, n)
	case kv == nil || len(kv.Layers) != c.NLayers || kv.BlockSize <= 0:
		return fmt.Errorf("%w: kv arena is not one of this model", ErrBatch)
	case len(logits) < len(b.Logits)*c.Vocab:
		// An empty Logits is allowed: a prefill chunk that wants none.
		return fmt.Errorf("%w: logits buffer of %d values, %d rows of %d needed", ErrBatch, len(logits), len(b.Logits), c.Vocab)
	}
	if kv.Layers[0].KVDim != c.KVDim() || len(kv.Layers[0].K) < kv.NumBlocks*kv.BlockSize*c.KVDim() {
		return fmt.Errorf("%w: kv arena is not one of this model", ErrBatch)
	}
	for i := range n {
		tok, pos, seq := b.Tokens[i], b.Pos[i], b.Seq[i]
		if tok < 0 || int(tok) >= c.Vocab {
			return fmt.Errorf("%w: token %d is id %d, vocabulary has %d", ErrBatch, i, tok, c.Vocab)
		}
		if pos < 0 || int(pos) >= c.Context {
			return fmt.Errorf("%w: token %d at position %d, context is %d", ErrBatch, i, pos, c.Context)
		}
		if seq < 0 || int(seq) >= len(b.Tables) {
			return fmt.Errorf("%w: token %d names sequence %d of %d", ErrBatch, i, seq, len(b.Tables))
		}
		table := b.Tables[seq]
		nb := int(pos)/kv.BlockSize + 1
		if len(table) < nb {
			return fmt.Errorf("%w: sequence %d position %d needs %d blocks, table has %d", ErrBatch, seq, pos, nb, len(table))
		}
		for j, blk := range table[:nb] {
			if blk < 0 || int(blk) >= kv.NumBlocks {
				return fmt.Errorf("%w: sequence %d block %d is %d, arena has %d", ErrBatch, seq, j, blk, kv.NumBlocks)
			}
		}
	}
	for _, li := range b.Logits {
		if li < 0 || int(li) >= n {
			return fmt.Errorf("%w: logits index %d of %d tokens", ErrBatch, li, n)
		}
	}
	return nil
}

// Forward runs the model over every token of b, writing each token's keys
// and values into kv, and stores the logits of the tokens b.Logits names in
// logits ([len(b.Logits)][Vocab]). A bad batch returns ErrBatch before any
// work; kernel failures are returned wrapped.
func (m *Model) Forward(st *State, b *Batch, kv *KVArena, logits []float32) error {
	if m.be == nil {
		return fmt.Errorf("%w: model has no backend (closed?)", ErrConfig)
	}
	if err := m.checkBatch(st, b, kv, logits); err != nil {
		return err
	}
	c := m.cfg
	be := m.be
	n := len(b.Tokens)
	dim, qd, kvd, hd := c.Dim, c.QDim(), c.KVDim(), c.HiddenDim
	x, xb := st.x[:n*dim], st.xb[:n*dim]
	q, att := st.q[:n*qd], st.att[:n*qd]
	k, v := st.k[:n*kvd], st.v[:n*kvd]
	tmp := st.tmp[:n*dim]
	hb, hb2 := st.hb[:n*hd], st.hb2[:n*hd]
	erb := m.tokEmb.RowBytes()
	for i, tok := range b.Tokens {
		if err := kernels.Dequantize(x[i*dim:(i+1)*dim], m.tokEmb.Data[int(tok)*erb:(int(tok)+1)*erb], m.tokEmb.Type); err != nil {
			return fmt.Errorf("llama: embedding: %w", err)
		}
	}
	ropeQ, ropeK, ac := c.rope(c.NHeads), c.rope(c.NKVHeads), c.attn()
	bs := kv.BlockSize
	for li := range m.layers {
		l := &m.layers[li]
		lkv := kv.Layers[li]
		for i := range n {
			be.RMSNorm(xb[i*dim:(i+1)*dim], x[i*dim:(i+1)*dim], l.attnNorm, c.NormEps)
		}
		if err := m.matmuls(n, xb, mm{q, l.wq}, mm{k, l.wk}, mm{v, l.wv}); err != nil {
			return err
		}
		for i := range n {
			pos := int(b.Pos[i])
			be.RoPE(q[i*qd:(i+1)*qd], pos, ropeQ)
			be.RoPE(k[i*kvd:(i+1)*kvd], pos, ropeK)
			blk := int(b.Tables[b.Seq[i]][pos/bs])
			off := (blk*bs + pos%bs) * kvd
			copy(lkv.K[off:off+kvd], k[i*kvd:(i+1)*kvd])
			copy(lkv.V[off:off+kvd], v[i*kvd:(i+1)*kvd])
		}
		for i := range n {
			be.Attention(att[i*qd:(i+1)*qd], q[i*qd:(i+1)*qd], lkv, b.Tables[b.Seq[i]], int(b.Pos[i])+1, ac)
		}
		if err := m.matmuls(n, att, mm{tmp, l.wo}); err != nil {
			return err
		}
		addInto(x, tmp)
		for i := range n {
			be.RMSNorm(xb[i*dim:(i+1)*dim], x[i*dim:(i+1)*dim], l.ffnNorm, c.NormEps)
		}
		if err := m.matmuls(n, xb, mm{hb, l.gate}, mm{hb2, l.up}); err != nil {
			return err
		}
		be.SwiGLU(hb, hb, hb2)
		if err := m.matmuls(n, hb, mm{tmp, l.down}); err != nil {
			return err
		}
		addInto(x, tmp)
	}
	nl := len(b.Logits)
	if nl == 0 {
		return nil
	}
	for j, li := range b.Logits {
		be.RMSNorm(xb[j*dim:(j+1)*dim], x[int(li)*dim:(int(li)+1)*dim], m.outNorm, c.NormEps)
	}
	return m.matmuls(nl, xb[:nl*dim], mm{logits[:nl*c.Vocab], m.output})
}

type mm struct {
	out []float32
	w   kernels.Weights
}

func (m *Model) matmuls(n int, x []float32, ops ...mm) error {
	for _, op := range ops {
		if err := m.be.MatMul(op.out, op.w, x, n); err != nil {
			return fmt.Errorf("llama: matmul %dx%d %v: %w", op.w.Rows, op.w.Cols, op.w.Type, err)
		}
	}
	return nil
}

func addInto(dst, src []float32) {
	src = src[:len(dst)]
	for i := range dst {
		dst[i] += src[i]
	}
}
