package kernels

import (
	"math"
)

// reference is the plain-Go numeric reference: single-threaded, float64
// accumulation, written for clarity rather than speed.
type reference struct {
	row []float32 // one dequantized weight row, reused
}

// NewReference returns the plain-Go, single-threaded Backend that defines
// the numerics the native backend is tested against. It accumulates in
// float64 and dequantizes weights row by row with Dequantize.
func NewReference() Backend { return &reference{} }

func (r *reference) Name() string { return "reference" }

func (r *reference) Close() error { return nil }

func (r *reference) MatMul(out []float32, w Weights, x []float32, batch int) error {
	if err := CheckMatMul(out, w, x, batch); err != nil {
		return err
	}
	if cap(r.row) < w.Cols {
		r.row = make([]float32, w.Cols)
	}
	row := r.row[:w.Cols]
	rb := w.RowBytes()
	for i := range w.Rows {
		if err := Dequantize(row, w.Data[i*rb:(i+1)*rb], w.Type); err != nil {
			return err
		}
		for b := range batch {
			xb := x[b*w.Cols : (b+1)*w.Cols]
			var s float64
			for c, v := range row {
				s += float64(v) * float64(xb[c])
			}
			out[b*w.Rows+i] = float32(s)
		}
	}
	return nil
}

func (r *reference) RMSNorm(out, x, weight []float32, eps float32) {
	CheckVectors("rmsnorm", len(x), out, weight)
	var ss float64
	for _, v := range x {
		ss += float64(v) * float64(v)
	}
	scale := float32(1 / math.Sqrt(ss/float64(len(x))+float64(eps)))
	for i, v := range x {
		out[i] = weight[i] * (scale * v)
	}
}

// RopeFreq returns the rotation of pair k at position pos in radians:
// FreqScale * pos * Theta^(-2k/HeadDim), computed in float64.
func RopeFreq(c RopeConfig, pos, k int) float64 {
	fs := float64(c.FreqScale)
	if fs == 0 {
		fs = 1
	}
	return fs * float64(pos) * math.Pow(float64(c.Theta), -2*float64(k)/float64(c.HeadDim))
}

func (r *reference) RoPE(x []float32, pos int, c RopeConfig) {
	CheckRoPE(x, pos, c)
	half := c.HeadDim / 2
	for k := range half {
		sin, cos := math.Sincos(RopeFreq(c, pos, k))
		for h := range c.NHeads {
			i0, i1 := h*c.HeadDim+2*k, h*c.HeadDim+2*k+1
			if c.Style == RopeNeoX {
				i0, i1 = h*c.HeadDim+k, h*c.HeadDim+k+half
			}
			x0, x1 := float64(x[i0]), float64(x[i1])
			x[i0] = float32(x0*cos - x1*sin)
			x[i1] = float32(x0*sin + x1*cos)
		}
	}
}

func (r *reference) Softmax(x []float32) {
	if len(x) == 0 {
		return
	}
	mx := x[0]
	for _, v := range x {
		mx = max(mx, v)
	}
	var sum float64
	for i, v := range x {
		e := math.Exp(float64(v - mx))
		x[i] = float32(e)
		sum += e
	}
	inv := 1 / sum
	for i := range x {
		x[i] = float32(float64(x[i]) * inv)
	}
}

func (r *reference) SwiGLU(out, gate, up []float32) {
	CheckVectors("swiglu", len(gate), out, up)
	for i, g := range gate {
		out[i] = float32(float64(g) / (1 + math.Exp(-float64(g))) * float64(up[i]))
	}
}

func (r *reference) Attention(out, q []float32, kv KVLayer, table []int32, nPos int, c AttnConfig) {
	MustAttention(out, q, kv, table, nPos, c)
	group := c.NHeads / c.NKVHeads
	hd := c.HeadDim
	scores := make([]float64, nPos)
	acc := make([]float64, hd)
	for h := range c.NHeads {
		qh := q[h*hd : (h+1)*hd]
		koff := (h / group) * hd
		mx := math.Inf(-1)
		for t := range nPos {
			base := (int(table[t/kv.BlockSize])*kv.BlockSize+t%kv.BlockSize)*kv.KVDim + koff
			var s float64
			for i, qv := range qh {
				s += float64(qv) * float64(kv.K[base+i])
			}
			s *= float64(c.Scale)
			scores[t] = s
			mx = max(mx, s)
		}
		var sum float64
		for t := range nPos {
			scores[t] = math.Exp(scores[t] - mx)
			sum += scores[t]
		}
		clear(acc)
		for t := range nPos {
			base := (int(table[t/kv.BlockSize])*kv.BlockSize+t%kv.BlockSize)*kv.KVDim + koff
			p := scores[t] / sum
			for i := range acc {
				acc[i] += p * float64(kv.V[base+i])
			}
		}
		for i, v := range acc {
			out[h*hd+i] = float32(v)
		}
	}
}
