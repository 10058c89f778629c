package gguf

import (
	"fmt"
	"math"
)

// GGML tensor type ids used in the tensor directory.
const (
	GGMLTypeF32  uint32 = 0
	GGMLTypeF16  uint32 = 1
	GGMLTypeQ4_0 uint32 = 2
	GGMLTypeQ4_1 uint32 = 3
	GGMLTypeQ5_0 uint32 = 6
	GGMLTypeQ5_1 uint32 = 7
	GGMLTypeQ8_0 uint32 = 8
	GGMLTypeQ8_1 uint32 = 9
	GGMLTypeQ2_K uint32 = 10
	GGMLTypeQ3_K uint32 = 11
	GGMLTypeQ4_K uint32 = 12
	GGMLTypeQ5_K uint32 = 13
	GGMLTypeQ6_K uint32 = 14
	GGMLTypeQ8_K uint32 = 15
	GGMLTypeI8   uint32 = 24
	GGMLTypeI16  uint32 = 25
	GGMLTypeI32  uint32 = 26
	GGMLTypeI64  uint32 = 27
	GGMLTypeF64  uint32 = 28
	GGMLTypeBF16 uint32 = 30
)

// TypeTraits gives the storage layout of a GGML tensor type: elements per
// block and bytes per block.
type TypeTraits struct {
	Name       string
	BlockSize  int
	BlockBytes int
}

var typeTraits = map[uint32]TypeTraits{
	GGMLTypeF32:  {"F32", 1, 4},
	GGMLTypeF16:  {"F16", 1, 2},
	GGMLTypeQ4_0: {"Q4_0", 32, 18},
	GGMLTypeQ4_1: {"Q4_1", 32, 20},
	GGMLTypeQ5_0: {"Q5_0", 32, 22},
	GGMLTypeQ5_1: {"Q5_1", 32, 24},
	GGMLTypeQ8_0: {"Q8_0", 32, 34},
	GGMLTypeQ8_1: {"Q8_1", 32, 36},
	GGMLTypeQ2_K: {"Q2_K", 256, 84},
	GGMLTypeQ3_K: {"Q3_K", 256, 110},
	GGMLTypeQ4_K: {"Q4_K", 256, 144},
	GGMLTypeQ5_K: {"Q5_K", 256, 176},
	GGMLTypeQ6_K: {"Q6_K", 256, 210},
	GGMLTypeQ8_K: {"Q8_K", 256, 292},
	GGMLTypeI8:   {"I8", 1, 1},
	GGMLTypeI16:  {"I16", 1, 2},
	GGMLTypeI32:  {"I32", 1, 4},
	GGMLTypeI64:  {"I64", 1, 8},
	GGMLTypeF64:  {"F64", 1, 8},
	GGMLTypeBF16: {"BF16", 1, 2},
}

// Traits returns the layout of a GGML type id.
func Traits(typ uint32) (TypeTraits, bool) {
	t, ok := typeTraits[typ]
	return t, ok
}

// TypeName returns the GGML name of a type id ("Q8_0"), or "type(N)".
func TypeName(typ uint32) string {
	if t, ok := typeTraits[typ]; ok {
		return t.Name
	}
	return fmt.Sprintf("type(%d)", typ)
}

// TypeSize returns the byte size of a tensor of the given type and GGUF
// dimensions. The first dimension must be a multiple of the block size.
func TypeSize(typ uint32, dims []uint64) (int64, error) {
	t, ok := typeTraits[typ]
	if !ok {
		return 0, fmt.Errorf("%w: tensor type %d", ErrUnsupported, typ)
	}
	if len(dims) == 0 {
		return int64(t.BlockBytes), nil
	}
	if dims[0]%uint64(t.BlockSize) != 0 {
		return 0, fmt.Errorf("%w: %s row of %d elements is not a multiple of the block size %d", ErrFormat, t.Name, dims[0], t.BlockSize)
	}
	n := dims[0] / uint64(t.BlockSize) * uint64(t.BlockBytes)
	for _, d := range dims[1:] {
		if d != 0 && n > math.MaxInt64/d {
			return 0, fmt.Errorf("%w: tensor size overflows", ErrFormat)
		}
		n *= d
	}
	if n > math.MaxInt64 {
		return 0, fmt.Errorf("%w: tensor size overflows", ErrFormat)
	}
	return int64(n), nil
}
