// Package native implements kernels.Backend with C kernels called through
// cgo. It is the only package of the project that uses cgo.
//
// # Dispatch
//
// Every kernel exists at three levels: portable C (krs_generic.c), AVX2 +
// FMA + F16C, and AVX-512 (F/BW/VL/DQ + VNNI); the two x86 levels share
// krs_x86_impl.h, compiled under different `#pragma GCC target` settings.
// A C constructor runs __builtin_cpu_supports once at load time; New picks
// the best level (Config.ISA can force a lower one, which the parity tests
// do for every level the CPU has). Features reports what was detected.
//
// For Q8_0 and Q4_0 weights MatMul first quantizes the activations to Q8_0
// blocks exactly as kernels.Quantize (and ggml) does and then uses integer
// dot products; F32, F16, BF16 and Q4_K use float activations.
//
// # Register tiles
//
// Decode with continuous batching calls MatMul with one activation vector
// per sequence, so the AVX-512 kernels are register-tiled micro-kernels
// that load each weight block once per tile and reuse it for many vectors:
//
//   - Q8_0/Q4_0 (krs_avx512.c): 4 weight rows × up to 8 vectors. A zmm
//     register holds two 32-value blocks; weights are made unsigned (Q8_0
//     w+128, Q4_0 the raw nibble) for vpdpbusd and the offset is removed by
//     seeding the accumulator with a per-block correction the quantizer
//     precomputes. The four rows' int32 block sums of a vector are folded
//     with unpack-and-add into one register ([row0..row3] in each 128-bit
//     lane), so the conversion to float, the multiply by weight scale ×
//     activation scale and the FMA run once per four rows on 16 lanes of
//     block sums. The multiply ports bound this kernel; folding moves work
//     to the shuffle and add ports. One accumulator per vector.
//   - F32/F16/BF16 (krs_avx512_float.c): 4 rows × 4 vectors with 16 zmm
//     accumulators; each 16-column step loads (F16/BF16: converts) one
//     register per row and one per vector and does 16 FMAs. Column tails
//     use masked loads.
//
// Both reduce a finished tile with one transposing shuffle tree
// (krs_avx512_tile.h) and store each vector's 4 results with one masked
// store. Batches beyond the tile width (prefill chunks of up to 64 and
// more) walk the vectors tile by tile while the tile's weight rows stay in
// L1; row counts and batches that are not multiples of the tile run the
// same code with the last row repeated and its results discarded. The AVX2
// level keeps simpler one-row kernels over up to four vectors, and Q4_K
// dequantizes a super-block to floats at every level.
//
// # Threading
//
// A Backend with Threads > 1 owns Threads-1 worker goroutines, started
// lazily on the first call big enough to split (New starts none) and
// stopped by Close, which waits for them. A call publishes a job (a
// generation number in one atomic word plus a description the caller does
// not touch until the call returns); the caller and the workers claim
// chunks of rows (MatMul) or heads (Attention) from an atomic counter, so
// a descheduled worker never holds up the call. MatMul chunks are whole
// 16-row groups (4-row tiles for small matrices), so no two threads write
// the same cache line of out and every chunk starts on a tile boundary. Idle workers poll for
// about 50–200 µs, yielding now and then, and then park on a channel; a
// call wakes parked workers with one channel send each. Small calls run on
// the calling goroutine alone. Threads is capped at GOMAXPROCS.
//
// # Memory
//
// The Backend owns its scratch buffers (quantized activations, attention
// scores) and grows them as needed, so a steady-state call allocates
// nothing. Go memory is passed to C as pointer plus length for the duration
// of the call only; C keeps no pointer and allocates nothing. C return
// codes become ErrKernel errors.
//
// A Backend is used by one goroutine at a time.
package native
