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
// dot products; the AVX-512 level uses vpdpbusd on two blocks per register
// and two weight rows per step. F32, F16, BF16 and Q4_K use float
// activations. Batched calls process up to four activation vectors per
// weight row load, so the row is streamed from memory once per batch.
//
// # Threading
//
// A Backend with Threads > 1 owns Threads-1 worker goroutines, started
// lazily on the first call big enough to split (New starts none) and
// stopped by Close, which waits for them. A call publishes a job (a
// generation number in one atomic word plus a description the caller does
// not touch until the call returns); the caller and the workers claim
// chunks of rows (MatMul) or heads (Attention) from an atomic counter, so
// a descheduled worker never holds up the call. Idle workers poll for
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
