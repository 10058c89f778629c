package kernels

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers test them with errors.Is; the wrapping message
// names the offending value.
var (
	// ErrUnknownType is returned for a DType this package does not know.
	// The caller should convert the model to a supported type (F32, F16,
	// BF16, Q8_0, Q4_0, Q4_K) or reject it at load time.
	ErrUnknownType = errors.New("kernels: unknown weight type")
	// ErrUnsupported is returned when a known type lacks the requested
	// operation. The caller should pick another type for that tensor.
	ErrUnsupported = errors.New("kernels: operation not supported for type")
	// ErrShape is returned when lengths or dimensions do not fit together
	// (a column count that is not a multiple of the block size, a buffer
	// that is too short). It is a programming error in the caller: fix the
	// shapes rather than retrying.
	ErrShape = errors.New("kernels: bad shape")
)

// DType is a weight encoding, numbered as GGML/GGUF tensor types.
type DType uint32

// Weight encodings, with the GGML tensor type numbers.
const (
	F32  DType = 0
	F16  DType = 1
	Q4_0 DType = 2
	Q8_0 DType = 8
	Q4_K DType = 12
	BF16 DType = 30
)

// Block sizes of the quantized formats.
const (
	QK8_0 = 32  // elements per Q8_0 block
	QK4_0 = 32  // elements per Q4_0 block
	QK_K  = 256 // elements per K-quant super-block

	blockQ8_0Bytes = 2 + QK8_0        // fp16 d, 32 int8
	blockQ4_0Bytes = 2 + QK4_0/2      // fp16 d, 16 bytes of nibbles
	blockQ4_KBytes = 2 + 2 + 12 + 128 // fp16 d, fp16 dmin, 6-bit scales, nibbles
)

type typeInfo struct {
	name       string
	blockSize  int
	blockBytes int
}

var typeTable = map[DType]typeInfo{
	F32:  {"F32", 1, 4},
	F16:  {"F16", 1, 2},
	BF16: {"BF16", 1, 2},
	Q8_0: {"Q8_0", QK8_0, blockQ8_0Bytes},
	Q4_0: {"Q4_0", QK4_0, blockQ4_0Bytes},
	Q4_K: {"Q4_K", QK_K, blockQ4_KBytes},
}

// String returns the GGML name of the type ("Q8_0"), or "DType(n)" for an
// unknown number.
func (t DType) String() string {
	if ti, ok := typeTable[t]; ok {
		return ti.name
	}
	return fmt.Sprintf("DType(%d)", uint32(t))
}

// Known reports whether the package can store and decode the type.
func (t DType) Known() bool {
	_, ok := typeTable[t]
	return ok
}

// BlockSize returns the number of elements per block: 1 for F32, F16 and
// BF16, 32 for Q4_0 and Q8_0, 256 for Q4_K. It returns 0 for an unknown type.
func (t DType) BlockSize() int { return typeTable[t].blockSize }

// BlockBytes returns the encoded size of one block in bytes, 0 for an
// unknown type.
func (t DType) BlockBytes() int { return typeTable[t].blockBytes }

// RowBytes returns the encoded size of cols elements. It fails with
// ErrUnknownType for an unknown type and ErrShape when cols is negative or
// not a multiple of the block size.
func (t DType) RowBytes(cols int) (int, error) {
	ti, ok := typeTable[t]
	if !ok {
		return 0, fmt.Errorf("%w: %v", ErrUnknownType, t)
	}
	if cols < 0 || cols%ti.blockSize != 0 {
		return 0, fmt.Errorf("%w: %d elements is not a multiple of the %v block size %d", ErrShape, cols, t, ti.blockSize)
	}
	return cols / ti.blockSize * ti.blockBytes, nil
}

// Weights is a row-major matrix [Rows][Cols] in GGUF block layout: the raw
// little-endian bytes as stored in the file, each row RowBytes(Cols) long.
// Data is borrowed: kernels read it and never keep or modify it.
type Weights struct {
	Type       DType
	Rows, Cols int
	Data       []byte
}

// Validate checks that the type is known, the dimensions are positive, Cols
// fits the block size and Data holds at least Rows full rows.
func (w Weights) Validate() error {
	if w.Rows <= 0 || w.Cols <= 0 {
		return fmt.Errorf("%w: weights %dx%d", ErrShape, w.Rows, w.Cols)
	}
	rb, err := w.Type.RowBytes(w.Cols)
	if err != nil {
		return err
	}
	if need := rb * w.Rows; len(w.Data) < need {
		return fmt.Errorf("%w: %v weights %dx%d need %d bytes, have %d", ErrShape, w.Type, w.Rows, w.Cols, need, len(w.Data))
	}
	return nil
}

// RowBytes returns the encoded size of one row; it assumes Validate passed.
func (w Weights) RowBytes() int {
	rb, _ := w.Type.RowBytes(w.Cols)
	return rb
}

// CheckMatMul validates the arguments of Backend.MatMul. Backends call it
// first so every implementation rejects the same inputs with the same error.
func CheckMatMul(out []float32, w Weights, x []float32, batch int) error {
	if err := w.Validate(); err != nil {
		return err
	}
	if batch < 1 {
		return fmt.Errorf("%w: batch %d", ErrShape, batch)
	}
	if len(x) < batch*w.Cols {
		return fmt.Errorf("%w: x has %d values, batch %d x cols %d needs %d", ErrShape, len(x), batch, w.Cols, batch*w.Cols)
	}
	if len(out) < batch*w.Rows {
		return fmt.Errorf("%w: out has %d values, batch %d x rows %d needs %d", ErrShape, len(out), batch, w.Rows, batch*w.Rows)
	}
	return nil
}
