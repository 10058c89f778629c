package native

/*
#cgo CFLAGS: -O3 -std=gnu11
#cgo LDFLAGS: -lm
#include "krs.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/krserve/krserve/engined/kernels"
)

// Sentinel errors.
var (
	// ErrConfig is returned by Config.Validate for an impossible setting;
	// the caller should fix its configuration.
	ErrConfig = errors.New("native: invalid config")
	// ErrISAUnsupported is returned when Config.ISA names an instruction
	// set this CPU lacks; use ISAAuto or a lower level.
	ErrISAUnsupported = errors.New("native: instruction set not supported by this CPU")
	// ErrKernel is returned when a C kernel rejects its arguments. The Go
	// checks run first, so it marks a bug in this package; report it.
	ErrKernel = errors.New("native: kernel rejected arguments")
	// ErrClosed is returned by MatMul after Close; create a new Backend.
	ErrClosed = errors.New("native: backend closed")
)

// ISA selects the kernel level. ISAAuto picks the best the CPU supports;
// the others force a level, which tests use to check every path.
type ISA int

// Kernel levels, in increasing capability.
const (
	ISAAuto    ISA = -1
	ISAGeneric ISA = C.KRS_GENERIC // portable C
	ISAAVX2    ISA = C.KRS_AVX2    // AVX2, FMA, F16C
	ISAAVX512  ISA = C.KRS_AVX512  // plus AVX-512 F/BW/VL/DQ and VNNI
)

// String names the level as Backend.Name does.
func (i ISA) String() string {
	switch i {
	case ISAAuto:
		return "auto"
	case ISAGeneric:
		return "generic"
	case ISAAVX2:
		return "avx2"
	case ISAAVX512:
		return "avx512"
	}
	return fmt.Sprintf("ISA(%d)", int(i))
}

// Supported reports whether this CPU can run the level.
func (i ISA) Supported() bool {
	return i == ISAAuto || C.krs_level_supported(C.int(i)) != 0
}

// BestISA returns the highest level this CPU supports.
func BestISA() ISA { return ISA(C.krs_best_level()) }

// Features lists the relevant CPU features detected at run time, e.g.
// "avx512f avx512bw avx512vnni avx512bf16 avx2 fma f16c".
func Features() string { return C.GoString(C.krs_features()) }

// Config holds the settings of a Backend.
type Config struct {
	// Threads is the number of threads that share a MatMul or Attention
	// call, the calling goroutine included; at least 1.
	Threads int
	// ISA forces a kernel level; the zero value of Config must be given
	// ISAAuto explicitly (NewBackend does).
	ISA ISA
}

// Validate checks Threads >= 1 and that ISA is a known level the CPU supports.
func (c Config) Validate() error {
	if c.Threads < 1 || c.Threads > 256 {
		return fmt.Errorf("%w: threads %d must be in 1..256", ErrConfig, c.Threads)
	}
	switch c.ISA {
	case ISAAuto, ISAGeneric, ISAAVX2, ISAAVX512:
	default:
		return fmt.Errorf("%w: unknown ISA %d", ErrConfig, int(c.ISA))
	}
	if !c.ISA.Supported() {
		return fmt.Errorf("%w: %v (cpu has %q)", ErrISAUnsupported, c.ISA, Features())
	}
	return nil
}

// NewBackend returns a native Backend using threads threads (>= 1) and the
// best kernel level of this CPU.
func NewBackend(threads int) (kernels.Backend, error) {
	b, err := New(Config{Threads: threads, ISA: ISAAuto})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// New returns a Backend for cfg. It starts no goroutines: the workers
// start on the first call that is split across threads.
func New(cfg Config) (*Backend, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	isa := cfg.ISA
	if isa == ISAAuto {
		isa = BestISA()
	}
	threads := min(cfg.Threads, max(1, runtime.GOMAXPROCS(0)))
	return &Backend{level: C.int(isa), isa: isa, threads: threads}, nil
}

func kernelErr(op string, rc C.int) error {
	if rc == C.KRS_OK {
		return nil
	}
	return fmt.Errorf("%w: %s returned %d", ErrKernel, op, int(rc))
}
