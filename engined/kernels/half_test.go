package kernels

import (
	"math"
	"testing"
)

func TestFP16(t *testing.T) {
	tests := []struct {
		f float32
		h uint16
	}{
		{0, 0x0000},
		{float32(math.Copysign(0, -1)), 0x8000},
		{1, 0x3c00},
		{-2, 0xc000},
		{65504, 0x7bff},
		{65520, 0x7c00},                 // rounds up to +inf
		{float32(math.Inf(-1)), 0xfc00}, // -inf
		{0x1p-24, 0x0001},               // smallest subnormal
		{0x1p-25, 0x0000},               // tie to even: 0
		{0x1.8p-25, 0x0001},             // above the tie
		{1 + 0x1p-11, 0x3c00},           // tie between 1 and 1+2^-10 goes to even
		{1 + 0x3p-11, 0x3c02},           // tie goes to even (up)
		{0.1, 0x2e66},
	}
	for _, tc := range tests {
		if got := FP32ToFP16(tc.f); got != tc.h {
			t.Errorf("FP32ToFP16(%g) = %#04x, want %#04x", tc.f, got, tc.h)
		}
	}
	if h := FP32ToFP16(float32(math.NaN())); h&0x7c00 != 0x7c00 || h&0x3ff == 0 {
		t.Errorf("NaN -> %#04x", h)
	}
	// Every finite half widens and narrows back to itself.
	for h := range 1 << 16 {
		f := FP16ToFP32(uint16(h))
		if f != f {
			continue
		}
		if back := FP32ToFP16(f); back != uint16(h) {
			t.Fatalf("%#04x -> %g -> %#04x", h, f, back)
		}
	}
}

func TestBF16(t *testing.T) {
	tests := []struct {
		f float32
		h uint16
	}{
		{1, 0x3f80},
		{-2, 0xc000},
		{math.Float32frombits(0x3f808000), 0x3f80}, // tie to even (down)
		{math.Float32frombits(0x3f818000), 0x3f82}, // tie to even (up)
		{math.Float32frombits(0x3f808001), 0x3f81},
	}
	for _, tc := range tests {
		if got := FP32ToBF16(tc.f); got != tc.h {
			t.Errorf("FP32ToBF16(%g) = %#04x, want %#04x", tc.f, got, tc.h)
		}
		if back := BF16ToFP32(tc.h); FP32ToBF16(back) != tc.h {
			t.Errorf("round trip of %#04x", tc.h)
		}
	}
	if h := FP32ToBF16(float32(math.NaN())); BF16ToFP32(h) == BF16ToFP32(h) {
		t.Errorf("NaN -> %#04x is not NaN", h)
	}
}
