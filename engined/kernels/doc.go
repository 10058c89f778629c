// Package kernels defines the compute contract of the engine's forward
// pass and its plain-Go numeric reference.
//
// It holds the weight encodings (DType, numbered as GGML/GGUF tensor types)
// with ggml's exact block layouts, Quantize and Dequantize that reproduce
// ggml's reference quantizers byte for byte (F32, F16, BF16, Q8_0, Q4_0,
// Q4_K), the Backend interface (MatMul, RMSNorm, RoPE, Softmax, SwiGLU and
// paged attention) and NewReference, a single-threaded implementation that
// accumulates in float64 and is written for clarity. The native package
// implements Backend with SIMD C kernels and is tested against it.
//
// Block layouts (little-endian, as in GGUF files):
//
//	Q8_0  34 bytes / 32 values:  fp16 d, int8 q[32];             x = q*d
//	Q4_0  18 bytes / 32 values:  fp16 d, 16 bytes of nibbles;     x = (q-8)*d
//	      byte j holds value j (low nibble) and value j+16 (high nibble)
//	Q4_K 144 bytes / 256 values: fp16 d, fp16 dmin, 12 bytes of 6-bit
//	      scales and mins for 8 sub-blocks of 32, 128 bytes of nibbles;
//	      x = d*scale*q - dmin*min
//
// Concurrency and ownership: the package functions are pure. A Backend is
// used by one goroutine at a time. Kernels borrow their slices for the call
// only; Weights.Data is never modified or retained. Methods that cannot
// return an error panic with an ErrShape error on inconsistent lengths or
// block tables, which are programming errors; MatMul returns them instead.
package kernels
