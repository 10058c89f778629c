package gguf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"syscall"
)

// Magic is the first four bytes of every GGUF file.
const Magic = "GGUF"

// DefaultAlignment is the tensor data alignment when general.alignment is absent.
const DefaultAlignment = 32

var (
	// ErrFormat means the bytes are not a valid GGUF file (bad magic,
	// truncated, inconsistent sizes). The file must be replaced; retrying
	// cannot help.
	ErrFormat = errors.New("gguf: invalid file")
	// ErrUnsupported means a well-formed file uses a version or type this
	// package does not handle.
	ErrUnsupported = errors.New("gguf: unsupported")
	// ErrNotFound means a metadata key or tensor is absent.
	ErrNotFound = errors.New("gguf: not found")
)

// Limits that keep a hostile header from making the parser allocate without bound.
const (
	maxStringLen   = 1 << 26 // 64 MiB
	maxArrayLen    = 1 << 28
	maxTensorDims  = 8
	maxNestedDepth = 4
)

// KV is one metadata entry, in file order.
type KV struct {
	Key   string
	Value Value
}

// TensorInfo describes one tensor. Dims are in GGUF order: Dims[0] is the
// fastest-varying (columns of a row-major matrix).
type TensorInfo struct {
	Name   string
	Dims   []uint64
	Type   uint32 // GGML tensor type id
	Offset uint64 // from the start of the data section
	Size   int64  // bytes, when the type is known (see TypeSize); else -1
}

// Elements returns the product of the dimensions.
func (t *TensorInfo) Elements() uint64 {
	n := uint64(1)
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// File is a parsed GGUF file.
type File struct {
	Version    uint32
	Metadata   []KV
	Tensors    []TensorInfo
	Alignment  int
	DataOffset int64 // absolute offset of the tensor data section

	index   map[string]int
	tindex  map[string]int
	data    []byte // whole file (mapped or caller-owned)
	mmapped bool
}

// Open maps path read-only and parses it.
func Open(path string) (*File, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gguf: open: %w", err)
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil {
		return nil, fmt.Errorf("gguf: stat: %w", err)
	}
	size := st.Size()
	if size < 24 {
		return nil, fmt.Errorf("%w: %s is %d bytes, too short for a header", ErrFormat, path, size)
	}
	if size > math.MaxInt {
		return nil, fmt.Errorf("%w: file too large", ErrUnsupported)
	}
	data, err := syscall.Mmap(int(fd.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("gguf: mmap %s: %w", path, err)
	}
	f, err := Parse(data)
	if err != nil {
		_ = syscall.Munmap(data)
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f.mmapped = true
	return f, nil
}

// Close unmaps a file opened with Open. Tensor data slices become invalid.
func (f *File) Close() error {
	if f.mmapped && f.data != nil {
		d := f.data
		f.data = nil
		if err := syscall.Munmap(d); err != nil {
			return fmt.Errorf("gguf: munmap: %w", err)
		}
	}
	return nil
}

// Parse decodes a GGUF file held in b. Tensor data returned later aliases b.
func Parse(b []byte) (*File, error) {
	r := &reader{b: b}
	magic := r.bytes(4)
	if r.err != nil || string(magic) != Magic {
		return nil, fmt.Errorf("%w: bad magic %q", ErrFormat, magic)
	}
	f := &File{Version: r.u32(), Alignment: DefaultAlignment, data: b}
	if r.err == nil && (f.Version < 2 || f.Version > 3) {
		return nil, fmt.Errorf("%w: version %d (want 2 or 3)", ErrUnsupported, f.Version)
	}
	nt, nkv := r.u64(), r.u64()
	if r.err != nil {
		return nil, r.err
	}
	// Each KV needs at least 12 bytes and each tensor 24: reject counts the
	// file cannot hold before allocating for them.
	if nkv > uint64(len(b))/12 || nt > uint64(len(b))/24 {
		return nil, fmt.Errorf("%w: %d tensors, %d metadata entries do not fit in %d bytes", ErrFormat, nt, nkv, len(b))
	}
	f.Metadata = make([]KV, 0, nkv)
	f.index = make(map[string]int, nkv)
	for i := uint64(0); i < nkv; i++ {
		key := r.str()
		typ := ValueType(r.u32())
		v := r.value(typ, 0)
		if r.err != nil {
			return nil, fmt.Errorf("metadata entry %d (%q): %w", i, key, r.err)
		}
		if _, dup := f.index[key]; dup {
			return nil, fmt.Errorf("%w: duplicate metadata key %q", ErrFormat, key)
		}
		f.index[key] = len(f.Metadata)
		f.Metadata = append(f.Metadata, KV{Key: key, Value: v})
	}
	if v, ok := f.Get("general.alignment"); ok {
		a, ok := v.Uint()
		if !ok || a == 0 || a&(a-1) != 0 || a > 1<<16 {
			return nil, fmt.Errorf("%w: general.alignment %v is not a power of two", ErrFormat, v.Data)
		}
		f.Alignment = int(a)
	}
	f.Tensors = make([]TensorInfo, 0, nt)
	f.tindex = make(map[string]int, nt)
	for i := uint64(0); i < nt; i++ {
		t := TensorInfo{Name: r.str()}
		nd := r.u32()
		if r.err == nil && nd > maxTensorDims {
			return nil, fmt.Errorf("%w: tensor %q has %d dimensions", ErrFormat, t.Name, nd)
		}
		t.Dims = make([]uint64, nd)
		for d := range t.Dims {
			t.Dims[d] = r.u64()
		}
		t.Type = r.u32()
		t.Offset = r.u64()
		if r.err != nil {
			return nil, fmt.Errorf("tensor entry %d: %w", i, r.err)
		}
		if _, dup := f.tindex[t.Name]; dup {
			return nil, fmt.Errorf("%w: duplicate tensor %q", ErrFormat, t.Name)
		}
		t.Size = -1
		if s, err := TypeSize(t.Type, t.Dims); err == nil {
			t.Size = s
		}
		f.tindex[t.Name] = len(f.Tensors)
		f.Tensors = append(f.Tensors, t)
	}
	off := int64(r.off)
	align := int64(f.Alignment)
	f.DataOffset = (off + align - 1) / align * align
	if nt > 0 && f.DataOffset > int64(len(b)) {
		return nil, fmt.Errorf("%w: data section starts past the end of the file", ErrFormat)
	}
	for i := range f.Tensors {
		t := &f.Tensors[i]
		if t.Offset%uint64(f.Alignment) != 0 {
			return nil, fmt.Errorf("%w: tensor %q offset %d is not aligned to %d", ErrFormat, t.Name, t.Offset, f.Alignment)
		}
		if t.Size >= 0 && (t.Offset > uint64(len(b)) || f.DataOffset+int64(t.Offset)+t.Size > int64(len(b))) {
			return nil, fmt.Errorf("%w: tensor %q (%d bytes at %d) runs past the end of the file (truncated?)", ErrFormat, t.Name, t.Size, t.Offset)
		}
	}
	return f, nil
}

// Get returns the metadata value for key.
func (f *File) Get(key string) (Value, bool) {
	i, ok := f.index[key]
	if !ok {
		return Value{}, false
	}
	return f.Metadata[i].Value, true
}

// Keys returns the metadata keys in sorted order.
func (f *File) Keys() []string {
	keys := make([]string, 0, len(f.Metadata))
	for _, kv := range f.Metadata {
		keys = append(keys, kv.Key)
	}
	sort.Strings(keys)
	return keys
}

// String returns a string metadata value or an error naming the key.
func (f *File) String(key string) (string, error) {
	v, ok := f.Get(key)
	if !ok {
		return "", fmt.Errorf("%w: metadata key %q", ErrNotFound, key)
	}
	s, ok := v.Str()
	if !ok {
		return "", fmt.Errorf("%w: metadata key %q is %s, want string", ErrFormat, key, v.Type)
	}
	return s, nil
}

// Uint returns an integer metadata value or an error naming the key.
func (f *File) Uint(key string) (uint64, error) {
	v, ok := f.Get(key)
	if !ok {
		return 0, fmt.Errorf("%w: metadata key %q", ErrNotFound, key)
	}
	u, ok := v.Uint()
	if !ok {
		return 0, fmt.Errorf("%w: metadata key %q is %s, want unsigned integer", ErrFormat, key, v.Type)
	}
	return u, nil
}

// UintOr returns an integer metadata value, or def when the key is absent.
// A present key of the wrong type is still an error.
func (f *File) UintOr(key string, def uint64) (uint64, error) {
	if _, ok := f.Get(key); !ok {
		return def, nil
	}
	return f.Uint(key)
}

// Float returns a numeric metadata value or an error naming the key.
func (f *File) Float(key string) (float64, error) {
	v, ok := f.Get(key)
	if !ok {
		return 0, fmt.Errorf("%w: metadata key %q", ErrNotFound, key)
	}
	x, ok := v.Float()
	if !ok {
		return 0, fmt.Errorf("%w: metadata key %q is %s, want number", ErrFormat, key, v.Type)
	}
	return x, nil
}

// FloatOr returns a numeric metadata value, or def when the key is absent.
func (f *File) FloatOr(key string, def float64) (float64, error) {
	if _, ok := f.Get(key); !ok {
		return def, nil
	}
	return f.Float(key)
}

// BoolOr returns a bool metadata value, or def when the key is absent.
func (f *File) BoolOr(key string, def bool) (bool, error) {
	v, ok := f.Get(key)
	if !ok {
		return def, nil
	}
	b, ok := v.Bool()
	if !ok {
		return false, fmt.Errorf("%w: metadata key %q is %s, want bool", ErrFormat, key, v.Type)
	}
	return b, nil
}

// Tensor returns the directory entry of the named tensor.
func (f *File) Tensor(name string) (*TensorInfo, bool) {
	i, ok := f.tindex[name]
	if !ok {
		return nil, false
	}
	return &f.Tensors[i], true
}

// TensorData returns the bytes of the named tensor, aliasing the file.
func (f *File) TensorData(name string) (*TensorInfo, []byte, error) {
	t, ok := f.Tensor(name)
	if !ok {
		return nil, nil, fmt.Errorf("%w: tensor %q", ErrNotFound, name)
	}
	if t.Size < 0 {
		return t, nil, fmt.Errorf("%w: tensor %q has type %d", ErrUnsupported, name, t.Type)
	}
	start := f.DataOffset + int64(t.Offset)
	return t, f.data[start : start+t.Size : start+t.Size], nil
}

// reader decodes little-endian GGUF primitives, latching the first error.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{ErrFormat}, args...)...)
	}
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b)-r.off {
		r.fail("truncated at offset %d (need %d bytes)", r.off, n)
		return nil
	}
	s := r.b[r.off : r.off+n]
	r.off += n
	return s
}

func (r *reader) u8() uint8 {
	if s := r.bytes(1); s != nil {
		return s[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if s := r.bytes(2); s != nil {
		return binary.LittleEndian.Uint16(s)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if s := r.bytes(4); s != nil {
		return binary.LittleEndian.Uint32(s)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if s := r.bytes(8); s != nil {
		return binary.LittleEndian.Uint64(s)
	}
	return 0
}

func (r *reader) str() string {
	n := r.u64()
	if r.err != nil {
		return ""
	}
	if n > maxStringLen {
		r.fail("string of %d bytes at offset %d", n, r.off)
		return ""
	}
	return string(r.bytes(int(n)))
}

// arrayLen reads an array length and checks that elements of at least
// minSize bytes each fit in what remains, so a forged count cannot force a
// huge allocation.
func (r *reader) arrayLen(minSize int) int {
	n := r.u64()
	if r.err != nil {
		return 0
	}
	if n > maxArrayLen || n*uint64(minSize) > uint64(len(r.b)-r.off) {
		r.fail("array of %d elements at offset %d does not fit", n, r.off)
		return 0
	}
	return int(n)
}

func (r *reader) value(t ValueType, depth int) Value {
	v := Value{Type: t}
	switch t {
	case TypeUint8:
		v.Data = r.u8()
	case TypeInt8:
		v.Data = int8(r.u8())
	case TypeUint16:
		v.Data = r.u16()
	case TypeInt16:
		v.Data = int16(r.u16())
	case TypeUint32:
		v.Data = r.u32()
	case TypeInt32:
		v.Data = int32(r.u32())
	case TypeFloat32:
		v.Data = math.Float32frombits(r.u32())
	case TypeBool:
		b := r.u8()
		if b > 1 {
			r.fail("bool value %d", b)
		}
		v.Data = b == 1
	case TypeString:
		v.Data = r.str()
	case TypeUint64:
		v.Data = r.u64()
	case TypeInt64:
		v.Data = int64(r.u64())
	case TypeFloat64:
		v.Data = math.Float64frombits(r.u64())
	case TypeArray:
		if depth >= maxNestedDepth {
			r.fail("arrays nested deeper than %d", maxNestedDepth)
			return v
		}
		v.Elem = ValueType(r.u32())
		v.Data = r.array(v.Elem, depth)
	default:
		r.fail("unknown value type %d", uint32(t))
	}
	return v
}

func (r *reader) array(t ValueType, depth int) any {
	switch t {
	case TypeUint8:
		n := r.arrayLen(1)
		return append([]uint8(nil), r.bytes(n)...)
	case TypeInt8:
		n := r.arrayLen(1)
		s := r.bytes(n)
		out := make([]int8, len(s))
		for i, b := range s {
			out[i] = int8(b)
		}
		return out
	case TypeUint16:
		return readFixed(r, 2, func(s []byte) uint16 { return binary.LittleEndian.Uint16(s) })
	case TypeInt16:
		return readFixed(r, 2, func(s []byte) int16 { return int16(binary.LittleEndian.Uint16(s)) })
	case TypeUint32:
		return readFixed(r, 4, binary.LittleEndian.Uint32)
	case TypeInt32:
		return readFixed(r, 4, func(s []byte) int32 { return int32(binary.LittleEndian.Uint32(s)) })
	case TypeFloat32:
		return readFixed(r, 4, func(s []byte) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(s)) })
	case TypeUint64:
		return readFixed(r, 8, binary.LittleEndian.Uint64)
	case TypeInt64:
		return readFixed(r, 8, func(s []byte) int64 { return int64(binary.LittleEndian.Uint64(s)) })
	case TypeFloat64:
		return readFixed(r, 8, func(s []byte) float64 { return math.Float64frombits(binary.LittleEndian.Uint64(s)) })
	case TypeBool:
		n := r.arrayLen(1)
		s := r.bytes(n)
		out := make([]bool, len(s))
		for i, b := range s {
			if b > 1 {
				r.fail("bool value %d", b)
			}
			out[i] = b == 1
		}
		return out
	case TypeString:
		n := r.arrayLen(8)
		out := make([]string, n)
		for i := range out {
			out[i] = r.str()
			if r.err != nil {
				return nil
			}
		}
		return out
	case TypeArray:
		n := r.arrayLen(12)
		out := make([]Value, n)
		for i := range out {
			out[i] = Value{Type: TypeArray, Elem: ValueType(r.u32())}
			out[i].Data = r.array(out[i].Elem, depth+1)
			if r.err != nil {
				return nil
			}
		}
		return out
	default:
		r.fail("unknown array element type %d", uint32(t))
		return nil
	}
}

func readFixed[T any](r *reader, size int, conv func([]byte) T) []T {
	n := r.arrayLen(size)
	s := r.bytes(n * size)
	if r.err != nil {
		return nil
	}
	out := make([]T, n)
	for i := range out {
		out[i] = conv(s[i*size:])
	}
	return out
}
