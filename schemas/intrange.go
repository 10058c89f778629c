package schemas

import (
	"fmt"
	"math"
	"reflect"

	"github.com/vmihailenco/msgpack/v5"
)

// msgpack/v5 stores a decoded integer into a narrower Go field with
// reflect.SetInt, which wraps silently: max_tokens = 2^40 would arrive as 0
// (the worker's default) and a prompt id of 2^32+5 as 5. The decoders below
// refuse a value that does not fit its field, so Decode fails with
// ErrInvalid instead of acting on a different number than the sender wrote.
func init() {
	msgpack.Register(int32(0), nil, func(d *msgpack.Decoder, v reflect.Value) error {
		n, err := d.DecodeInt64()
		if err != nil {
			return err
		}
		if n < math.MinInt32 || n > math.MaxInt32 {
			return fmt.Errorf("integer %d does not fit int32", n)
		}
		v.SetInt(n)
		return nil
	})
	msgpack.Register(uint32(0), nil, func(d *msgpack.Decoder, v reflect.Value) error {
		n, err := d.DecodeUint64()
		if err != nil {
			return err
		}
		if n > math.MaxUint32 {
			return fmt.Errorf("integer %d does not fit uint32", n)
		}
		v.SetUint(n)
		return nil
	})
}
