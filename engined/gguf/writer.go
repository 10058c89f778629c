package gguf

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// Writer assembles a GGUF v3 file. Add metadata and tensors in the order they
// should appear, then call WriteTo once. A Writer is not safe for concurrent use.
type Writer struct {
	Alignment int
	kvs       []KV
	keys      map[string]bool
	tensors   []wtensor
	names     map[string]bool
	err       error
}

type wtensor struct {
	info  TensorInfo
	write func(w io.Writer) error
}

// NewWriter returns a Writer with the default alignment.
func NewWriter() *Writer {
	return &Writer{Alignment: DefaultAlignment, keys: map[string]bool{}, names: map[string]bool{}}
}

// Set adds a metadata entry. Data must be a Go value matching the GGUF types
// (uint8 … float64, bool, string, or a slice of one of them).
func (w *Writer) Set(key string, data any) {
	if w.err != nil {
		return
	}
	if w.keys[key] {
		w.err = fmt.Errorf("gguf: metadata key %q set twice", key)
		return
	}
	v, err := valueOf(data)
	if err != nil {
		w.err = fmt.Errorf("gguf: metadata key %q: %w", key, err)
		return
	}
	w.keys[key] = true
	w.kvs = append(w.kvs, KV{Key: key, Value: v})
}

// AddTensor adds a tensor whose bytes are already in memory.
func (w *Writer) AddTensor(name string, typ uint32, dims []uint64, data []byte) {
	w.AddTensorFunc(name, typ, dims, func(out io.Writer) error {
		_, err := out.Write(data)
		return err
	})
	if w.err == nil && int64(len(data)) != w.tensors[len(w.tensors)-1].info.Size {
		w.err = fmt.Errorf("gguf: tensor %q: %d bytes given, type and shape need %d", name, len(data), w.tensors[len(w.tensors)-1].info.Size)
	}
}

// AddTensorFunc adds a tensor whose bytes are produced by write when the file
// is written; write must emit exactly the tensor's size in bytes.
func (w *Writer) AddTensorFunc(name string, typ uint32, dims []uint64, write func(io.Writer) error) {
	if w.err != nil {
		return
	}
	if w.names[name] {
		w.err = fmt.Errorf("gguf: tensor %q added twice", name)
		return
	}
	size, err := TypeSize(typ, dims)
	if err != nil {
		w.err = fmt.Errorf("gguf: tensor %q: %w", name, err)
		return
	}
	w.names[name] = true
	w.tensors = append(w.tensors, wtensor{info: TensorInfo{Name: name, Dims: append([]uint64(nil), dims...), Type: typ, Size: size}, write: write})
}

// WriteTo writes the whole file.
func (w *Writer) WriteTo(dst io.Writer) (int64, error) {
	if w.err != nil {
		return 0, w.err
	}
	align := int64(w.Alignment)
	if align <= 0 || align&(align-1) != 0 {
		return 0, fmt.Errorf("gguf: alignment %d is not a power of two", align)
	}
	cw := &countWriter{w: bufio.NewWriterSize(dst, 1<<20)}
	e := &encoder{w: cw}
	e.bytes([]byte(Magic))
	e.u32(3)
	e.u64(uint64(len(w.tensors)))
	kvs := w.kvs
	if align != DefaultAlignment && !w.keys["general.alignment"] {
		kvs = append(kvs, KV{Key: "general.alignment", Value: Value{Type: TypeUint32, Data: uint32(align)}})
	}
	e.u64(uint64(len(kvs)))
	for _, kv := range kvs {
		e.str(kv.Key)
		e.u32(uint32(kv.Value.Type))
		e.value(kv.Value)
	}
	var off uint64
	for i := range w.tensors {
		t := &w.tensors[i].info
		t.Offset = off
		e.str(t.Name)
		e.u32(uint32(len(t.Dims)))
		for _, d := range t.Dims {
			e.u64(d)
		}
		e.u32(t.Type)
		e.u64(t.Offset)
		off += uint64((t.Size + align - 1) / align * align)
	}
	if e.err != nil {
		return cw.n, e.err
	}
	if err := pad(cw, align); err != nil {
		return cw.n, err
	}
	for i := range w.tensors {
		t := &w.tensors[i]
		start := cw.n
		if err := t.write(cw); err != nil {
			return cw.n, fmt.Errorf("gguf: writing tensor %q: %w", t.info.Name, err)
		}
		if got := cw.n - start; got != t.info.Size {
			return cw.n, fmt.Errorf("gguf: tensor %q wrote %d bytes, want %d", t.info.Name, got, t.info.Size)
		}
		if err := pad(cw, align); err != nil {
			return cw.n, err
		}
	}
	return cw.n, cw.w.(*bufio.Writer).Flush()
}

func pad(cw *countWriter, align int64) error {
	if r := cw.n % align; r != 0 {
		_, err := cw.Write(make([]byte, align-r))
		return err
	}
	return nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

type encoder struct {
	w   io.Writer
	err error
	buf [8]byte
}

func (e *encoder) bytes(b []byte) {
	if e.err == nil {
		_, e.err = e.w.Write(b)
	}
}
func (e *encoder) u8(v uint8)   { e.bytes([]byte{v}) }
func (e *encoder) u16(v uint16) { binary.LittleEndian.PutUint16(e.buf[:], v); e.bytes(e.buf[:2]) }
func (e *encoder) u32(v uint32) { binary.LittleEndian.PutUint32(e.buf[:], v); e.bytes(e.buf[:4]) }
func (e *encoder) u64(v uint64) { binary.LittleEndian.PutUint64(e.buf[:], v); e.bytes(e.buf[:8]) }
func (e *encoder) str(s string) { e.u64(uint64(len(s))); e.bytes([]byte(s)) }

func (e *encoder) value(v Value) {
	switch x := v.Data.(type) {
	case uint8:
		e.u8(x)
	case int8:
		e.u8(uint8(x))
	case uint16:
		e.u16(x)
	case int16:
		e.u16(uint16(x))
	case uint32:
		e.u32(x)
	case int32:
		e.u32(uint32(x))
	case float32:
		e.u32(math.Float32bits(x))
	case bool:
		if x {
			e.u8(1)
		} else {
			e.u8(0)
		}
	case string:
		e.str(x)
	case uint64:
		e.u64(x)
	case int64:
		e.u64(uint64(x))
	case float64:
		e.u64(math.Float64bits(x))
	default:
		e.u32(uint32(v.Elem))
		e.u64(uint64(v.Len()))
		e.array(v.Data)
	}
}

func (e *encoder) array(data any) {
	switch x := data.(type) {
	case []uint8:
		e.bytes(x)
	case []int8:
		for _, v := range x {
			e.u8(uint8(v))
		}
	case []uint16:
		for _, v := range x {
			e.u16(v)
		}
	case []int16:
		for _, v := range x {
			e.u16(uint16(v))
		}
	case []uint32:
		for _, v := range x {
			e.u32(v)
		}
	case []int32:
		for _, v := range x {
			e.u32(uint32(v))
		}
	case []float32:
		for _, v := range x {
			e.u32(math.Float32bits(v))
		}
	case []bool:
		for _, v := range x {
			e.value(Value{Data: v})
		}
	case []string:
		for _, v := range x {
			e.str(v)
		}
	case []uint64:
		for _, v := range x {
			e.u64(v)
		}
	case []int64:
		for _, v := range x {
			e.u64(uint64(v))
		}
	case []float64:
		for _, v := range x {
			e.u64(math.Float64bits(v))
		}
	case []Value:
		for _, v := range x {
			e.value(v)
		}
	}
}

func valueOf(data any) (Value, error) {
	scalar := func(t ValueType) (Value, error) { return Value{Type: t, Data: data}, nil }
	array := func(t ValueType) (Value, error) { return Value{Type: TypeArray, Elem: t, Data: data}, nil }
	switch data.(type) {
	case uint8:
		return scalar(TypeUint8)
	case int8:
		return scalar(TypeInt8)
	case uint16:
		return scalar(TypeUint16)
	case int16:
		return scalar(TypeInt16)
	case uint32:
		return scalar(TypeUint32)
	case int32:
		return scalar(TypeInt32)
	case float32:
		return scalar(TypeFloat32)
	case bool:
		return scalar(TypeBool)
	case string:
		return scalar(TypeString)
	case uint64:
		return scalar(TypeUint64)
	case int64:
		return scalar(TypeInt64)
	case float64:
		return scalar(TypeFloat64)
	case []uint8:
		return array(TypeUint8)
	case []int8:
		return array(TypeInt8)
	case []uint16:
		return array(TypeUint16)
	case []int16:
		return array(TypeInt16)
	case []uint32:
		return array(TypeUint32)
	case []int32:
		return array(TypeInt32)
	case []float32:
		return array(TypeFloat32)
	case []bool:
		return array(TypeBool)
	case []string:
		return array(TypeString)
	case []uint64:
		return array(TypeUint64)
	case []int64:
		return array(TypeInt64)
	case []float64:
		return array(TypeFloat64)
	case Value:
		return data.(Value), nil
	}
	return Value{}, fmt.Errorf("%w: Go type %T has no GGUF type", ErrUnsupported, data)
}
