package gguf

import (
	"fmt"
	"math"
)

// ValueType is the type tag of a metadata value, as numbered by GGUF.
type ValueType uint32

// The GGUF metadata value types.
const (
	TypeUint8   ValueType = 0
	TypeInt8    ValueType = 1
	TypeUint16  ValueType = 2
	TypeInt16   ValueType = 3
	TypeUint32  ValueType = 4
	TypeInt32   ValueType = 5
	TypeFloat32 ValueType = 6
	TypeBool    ValueType = 7
	TypeString  ValueType = 8
	TypeArray   ValueType = 9
	TypeUint64  ValueType = 10
	TypeInt64   ValueType = 11
	TypeFloat64 ValueType = 12
)

var typeNames = [...]string{"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool", "string", "array", "uint64", "int64", "float64"}

func (t ValueType) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// Value is one metadata value. Scalars are held in Data as the Go type that
// matches Type (uint8, int8, …, string, bool). An array has Type TypeArray,
// Elem set to the element type and Data holding a typed slice ([]string,
// []float32, []int32, []uint32, …; nested arrays are []Value).
type Value struct {
	Type ValueType
	Elem ValueType
	Data any
}

// Uint returns an unsigned or non-negative signed integer scalar.
func (v Value) Uint() (uint64, bool) {
	switch x := v.Data.(type) {
	case uint8:
		return uint64(x), true
	case uint16:
		return uint64(x), true
	case uint32:
		return uint64(x), true
	case uint64:
		return x, true
	case int8, int16, int32, int64:
		i, _ := v.Int()
		if i < 0 {
			return 0, false
		}
		return uint64(i), true
	}
	return 0, false
}

// Int returns an integer scalar of any width as int64.
func (v Value) Int() (int64, bool) {
	switch x := v.Data.(type) {
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint64:
		if x > math.MaxInt64 {
			return 0, false
		}
		return int64(x), true
	}
	return 0, false
}

// Float returns a float or integer scalar as float64.
func (v Value) Float() (float64, bool) {
	switch x := v.Data.(type) {
	case float32:
		return float64(x), true
	case float64:
		return x, true
	}
	if i, ok := v.Int(); ok {
		return float64(i), true
	}
	return 0, false
}

// String returns a string scalar.
func (v Value) Str() (string, bool) {
	s, ok := v.Data.(string)
	return s, ok
}

// Bool returns a bool scalar.
func (v Value) Bool() (bool, bool) {
	b, ok := v.Data.(bool)
	return b, ok
}

// Len returns the number of elements of an array value, or -1.
func (v Value) Len() int {
	switch x := v.Data.(type) {
	case []uint8:
		return len(x)
	case []int8:
		return len(x)
	case []uint16:
		return len(x)
	case []int16:
		return len(x)
	case []uint32:
		return len(x)
	case []int32:
		return len(x)
	case []float32:
		return len(x)
	case []bool:
		return len(x)
	case []string:
		return len(x)
	case []uint64:
		return len(x)
	case []int64:
		return len(x)
	case []float64:
		return len(x)
	case []Value:
		return len(x)
	}
	return -1
}

// Int32s converts an integer array to []int32 (a copy unless it already is
// one). It fails on non-integer arrays and out-of-range values.
func (v Value) Int32s() ([]int32, bool) {
	switch x := v.Data.(type) {
	case []int32:
		return x, true
	case []uint32:
		return convertInts(x)
	case []int8:
		return convertInts(x)
	case []uint8:
		return convertInts(x)
	case []int16:
		return convertInts(x)
	case []uint16:
		return convertInts(x)
	case []int64:
		return convertInts(x)
	case []uint64:
		return convertInts(x)
	}
	return nil, false
}

func convertInts[T int8 | uint8 | int16 | uint16 | uint32 | int64 | uint64](x []T) ([]int32, bool) {
	out := make([]int32, len(x))
	for i, e := range x {
		if int64(e) > math.MaxInt32 || int64(e) < math.MinInt32 || (e > 0 && int64(e) < 0) {
			return nil, false
		}
		out[i] = int32(e)
	}
	return out, true
}

// Float32s returns a float32 array (float64 arrays are converted).
func (v Value) Float32s() ([]float32, bool) {
	switch x := v.Data.(type) {
	case []float32:
		return x, true
	case []float64:
		out := make([]float32, len(x))
		for i, e := range x {
			out[i] = float32(e)
		}
		return out, true
	}
	return nil, false
}

// Strings returns a string array.
func (v Value) Strings() ([]string, bool) {
	s, ok := v.Data.([]string)
	return s, ok
}
