package kernels

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Quantize encodes src into dst in the block layout of t, using the same
// rounding as ggml's reference quantizers (quantize_row_*_ref), so the bytes
// match what llama.cpp writes for the same input. len(src) must be a
// multiple of t.BlockSize() and dst must hold RowBytes(len(src)) bytes;
// only that prefix of dst is written.
func Quantize(dst []byte, src []float32, t DType) error {
	need, err := t.RowBytes(len(src))
	if err != nil {
		return err
	}
	if len(dst) < need {
		return fmt.Errorf("%w: quantize %d %v values needs %d bytes, have %d", ErrShape, len(src), t, need, len(dst))
	}
	switch t {
	case F32:
		for i, v := range src {
			binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(v))
		}
	case F16:
		for i, v := range src {
			binary.LittleEndian.PutUint16(dst[2*i:], FP32ToFP16(v))
		}
	case BF16:
		for i, v := range src {
			binary.LittleEndian.PutUint16(dst[2*i:], FP32ToBF16(v))
		}
	case Q8_0:
		for b := 0; b < len(src)/QK8_0; b++ {
			quantizeBlockQ8_0(dst[b*blockQ8_0Bytes:(b+1)*blockQ8_0Bytes], src[b*QK8_0:(b+1)*QK8_0])
		}
	case Q4_0:
		for b := 0; b < len(src)/QK4_0; b++ {
			quantizeBlockQ4_0(dst[b*blockQ4_0Bytes:(b+1)*blockQ4_0Bytes], src[b*QK4_0:(b+1)*QK4_0])
		}
	case Q4_K:
		for b := 0; b < len(src)/QK_K; b++ {
			quantizeBlockQ4_K(dst[b*blockQ4_KBytes:(b+1)*blockQ4_KBytes], src[b*QK_K:(b+1)*QK_K])
		}
	default:
		return fmt.Errorf("%w: quantize %v", ErrUnsupported, t)
	}
	return nil
}

// Dequantize decodes len(dst) values of type t from src with ggml's exact
// semantics (fp16 scales widened exactly, products rounded to float32).
// len(dst) must be a multiple of t.BlockSize() and src must hold at least
// RowBytes(len(dst)) bytes. Any byte pattern decodes without panicking;
// NaN and Inf scales decode to NaN and Inf values as in ggml.
func Dequantize(dst []float32, src []byte, t DType) error {
	need, err := t.RowBytes(len(dst))
	if err != nil {
		return err
	}
	if len(src) < need {
		return fmt.Errorf("%w: dequantize %d %v values needs %d bytes, have %d", ErrShape, len(dst), t, need, len(src))
	}
	switch t {
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
	case F16:
		for i := range dst {
			dst[i] = FP16ToFP32(binary.LittleEndian.Uint16(src[2*i:]))
		}
	case BF16:
		for i := range dst {
			dst[i] = BF16ToFP32(binary.LittleEndian.Uint16(src[2*i:]))
		}
	case Q8_0:
		for b := 0; b < len(dst)/QK8_0; b++ {
			dequantizeBlockQ8_0(dst[b*QK8_0:(b+1)*QK8_0], src[b*blockQ8_0Bytes:(b+1)*blockQ8_0Bytes])
		}
	case Q4_0:
		for b := 0; b < len(dst)/QK4_0; b++ {
			dequantizeBlockQ4_0(dst[b*QK4_0:(b+1)*QK4_0], src[b*blockQ4_0Bytes:(b+1)*blockQ4_0Bytes])
		}
	case Q4_K:
		for b := 0; b < len(dst)/QK_K; b++ {
			dequantizeBlockQ4_K(dst[b*QK_K:(b+1)*QK_K], src[b*blockQ4_KBytes:(b+1)*blockQ4_KBytes])
		}
	default:
		return fmt.Errorf("%w: dequantize %v", ErrUnsupported, t)
	}
	return nil
}

// F32Bytes returns the little-endian bytes of src, the F32 encoding.
func F32Bytes(src []float32) []byte {
	out := make([]byte, 4*len(src))
	for i, v := range src {
		binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(v))
	}
	return out
}

// quantizeBlockQ8_0 mirrors quantize_row_q8_0_ref for one block.
func quantizeBlockQ8_0(dst []byte, x []float32) {
	var amax float32
	for _, v := range x {
		amax = max(amax, abs32(v))
	}
	d := amax / 127
	var id float32
	if d != 0 {
		id = 1 / d
	}
	binary.LittleEndian.PutUint16(dst, FP32ToFP16(d))
	for j, v := range x {
		dst[2+j] = byte(int8(math.Round(float64(float32(v * id))))) // roundf: half away from zero
	}
}

func dequantizeBlockQ8_0(y []float32, b []byte) {
	d := FP16ToFP32(binary.LittleEndian.Uint16(b))
	for j := range QK8_0 {
		y[j] = float32(int8(b[2+j])) * d
	}
}

// quantizeBlockQ4_0 mirrors quantize_row_q4_0_ref for one block: the value
// with the largest magnitude maps to -8, element j goes to the low nibble of
// byte j and element j+16 to its high nibble.
func quantizeBlockQ4_0(dst []byte, x []float32) {
	var amax, mx float32
	for _, v := range x {
		if amax < abs32(v) {
			amax = abs32(v)
			mx = v
		}
	}
	d := mx / -8
	var id float32
	if d != 0 {
		id = 1 / d
	}
	binary.LittleEndian.PutUint16(dst, FP32ToFP16(d))
	for j := range QK4_0 / 2 {
		x0 := float32(x[j] * id)
		x1 := float32(x[j+QK4_0/2] * id)
		xi0 := min(15, int8(float32(x0+8.5)))
		xi1 := min(15, int8(float32(x1+8.5)))
		dst[2+j] = uint8(xi0) | uint8(xi1)<<4
	}
}

func dequantizeBlockQ4_0(y []float32, b []byte) {
	d := FP16ToFP32(binary.LittleEndian.Uint16(b))
	for j := range QK4_0 / 2 {
		q := b[2+j]
		y[j] = float32(int(q&0x0f)-8) * d
		y[j+QK4_0/2] = float32(int(q>>4)-8) * d
	}
}
