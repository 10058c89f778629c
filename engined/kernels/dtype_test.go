package kernels

import (
	"errors"
	"testing"
)

func TestDTypeTable(t *testing.T) {
	tests := []struct {
		t           DType
		name        string
		block, size int
		cols, bytes int
	}{
		{F32, "F32", 1, 4, 3, 12},
		{F16, "F16", 1, 2, 3, 6},
		{BF16, "BF16", 1, 2, 5, 10},
		{Q8_0, "Q8_0", 32, 34, 64, 68},
		{Q4_0, "Q4_0", 32, 18, 768, 432},
		{Q4_K, "Q4_K", 256, 144, 512, 288},
	}
	for _, tc := range tests {
		if got := tc.t.String(); got != tc.name {
			t.Errorf("%d: String %q, want %q", uint32(tc.t), got, tc.name)
		}
		if tc.t.BlockSize() != tc.block || tc.t.BlockBytes() != tc.size {
			t.Errorf("%v: block %d/%d bytes, want %d/%d", tc.t, tc.t.BlockSize(), tc.t.BlockBytes(), tc.block, tc.size)
		}
		if got, err := tc.t.RowBytes(tc.cols); err != nil || got != tc.bytes {
			t.Errorf("%v: RowBytes(%d) = %d, %v; want %d", tc.t, tc.cols, got, err, tc.bytes)
		}
	}
}

func TestRowBytesErrors(t *testing.T) {
	tests := []struct {
		t    DType
		cols int
		want error
	}{
		{Q8_0, 31, ErrShape},
		{Q4_K, 32, ErrShape},
		{F32, -1, ErrShape},
		{DType(99), 32, ErrUnknownType},
		{Q4_0, 0, nil},
	}
	for _, tc := range tests {
		_, err := tc.t.RowBytes(tc.cols)
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%v.RowBytes(%d): %v, want %v", tc.t, tc.cols, err, tc.want)
		}
	}
	if got := DType(99).String(); got != "DType(99)" {
		t.Errorf("unknown String = %q", got)
	}
}

func TestWeightsValidate(t *testing.T) {
	tests := []struct {
		name string
		w    Weights
		want error
	}{
		{"ok", Weights{Q8_0, 2, 32, make([]byte, 68)}, nil},
		{"longer data is fine", Weights{Q8_0, 2, 32, make([]byte, 100)}, nil},
		{"short", Weights{Q8_0, 2, 32, make([]byte, 67)}, ErrShape},
		{"zero rows", Weights{F32, 0, 4, nil}, ErrShape},
		{"bad cols", Weights{Q4_0, 1, 33, make([]byte, 100)}, ErrShape},
		{"unknown", Weights{DType(7), 1, 32, make([]byte, 100)}, ErrUnknownType},
	}
	for _, tc := range tests {
		if err := tc.w.Validate(); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}
