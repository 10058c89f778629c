package kernels

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/krserve/krserve/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite testdata/quant.golden")

// TestBlockLayoutsByHand checks bytes worked out by hand from ggml's block
// definitions.
func TestBlockLayoutsByHand(t *testing.T) {
	// Q8_0: amax 127 gives d = 1 (fp16 0x3c00) and q = x.
	x := make([]float32, 32)
	want := []byte{0x00, 0x3c, 0x81}
	x[0] = -127
	for j := 1; j < 32; j++ {
		x[j] = float32(j - 16)
		want = append(want, byte(int8(j-16)))
	}
	checkQuant(t, "q8_0", x, Q8_0, want)

	// Q4_0: the largest magnitude is -8, so d = -8/-8 = 1 and q = x+8;
	// byte j holds element j (low nibble) and element j+16 (high nibble).
	want = []byte{0x00, 0x3c}
	for j := range 16 {
		x[j] = float32(j - 8)
		x[j+16] = float32(7 - j)
		want = append(want, byte(j)|byte(15-j)<<4)
	}
	checkQuant(t, "q4_0", x, Q4_0, want)

	// Q4_0 with a positive extreme: d = 8/-8 = -1 (0xbc00), so 8 stores 0.
	x2 := make([]float32, 32)
	x2[3] = 8
	want = []byte{0x00, 0xbc}
	for j := range 16 {
		q := byte(8)
		if j == 3 {
			q = 0
		}
		want = append(want, q|8<<4)
	}
	checkQuant(t, "q4_0 negative d", x2, Q4_0, want)

	// F16 and BF16 of 1.5 and -0.25.
	checkQuant(t, "f16", []float32{1.5, -0.25}, F16, []byte{0x00, 0x3e, 0x00, 0xb4})
	checkQuant(t, "bf16", []float32{1.5, -0.25}, BF16, []byte{0xc0, 0x3f, 0x80, 0xbe})
}

func checkQuant(t *testing.T, name string, x []float32, typ DType, want []byte) {
	t.Helper()
	got := make([]byte, len(want))
	if err := Quantize(got, x, typ); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s:\n got %x\nwant %x", name, got, want)
	}
	back := make([]float32, len(x))
	if err := Dequantize(back, got, typ); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	for i := range x {
		if back[i] != x[i] {
			t.Fatalf("%s: element %d decodes to %g, want %g", name, i, back[i], x[i])
		}
	}
}

// TestQ4KDequantizeByHand decodes a super-block built by hand: d = 1,
// dmin = 0.5, sub-block 0 scale 2 min 4, sub-block 1 scale 1 min 0,
// sub-block 4 scale 17 min 3 (6-bit values split across bytes 0, 4, 8).
func TestQ4KDequantizeByHand(t *testing.T) {
	b := make([]byte, 144)
	binary.LittleEndian.PutUint16(b[0:], 0x3c00)
	binary.LittleEndian.PutUint16(b[2:], 0x3800)
	sc := b[4:16]
	sc[0] = 2 | 1<<6 // scale 0 = 2; bit 4 of scale 4
	sc[1] = 1        // scale 1
	sc[4] = 4        // min 0 = 4
	sc[8] = 0x31     // scale 4 low bits 1, min 4 low bits 3
	q := b[16:]
	for l := range 32 {
		q[l] = 0x21    // sub-block 0 q=1, sub-block 1 q=2
		q[64+l] = 0x03 // sub-block 4 q=3, sub-block 5 q=0
	}
	y := make([]float32, 256)
	if err := Dequantize(y, b, Q4_K); err != nil {
		t.Fatal(err)
	}
	for i, v := range y {
		want := float32(0)
		switch i / 32 {
		case 0:
			want = 2*1 - 0.5*4
		case 1:
			want = 1 * 2
		case 4:
			want = 17*3 - 0.5*3
		}
		if v != want {
			t.Fatalf("y[%d] = %g, want %g", i, v, want)
		}
	}
}

// goldenInput is a deterministic signal with a spread of magnitudes.
func goldenInput(n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(math.Sin(float64(i)*0.37)*(1+float64(i%29)/7)) * 0.25
	}
	return x
}

// TestQuantizeGolden compares the encoding of a fixed input with
// testdata/quant.golden (regenerate with -update after a deliberate change).
func TestQuantizeGolden(t *testing.T) {
	var sb strings.Builder
	x := goldenInput(512)
	for _, typ := range []DType{F16, BF16, Q8_0, Q4_0, Q4_K} {
		n, _ := typ.RowBytes(len(x))
		buf := make([]byte, n)
		if err := Quantize(buf, x, typ); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&sb, "%v %s\n", typ, hex.EncodeToString(buf))
	}
	path := filepath.Join("testdata", "quant.golden")
	if *update {
		if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	gotLines, wantLines := strings.Split(sb.String(), "\n"), strings.Split(string(want), "\n")
	for i := range max(len(gotLines), len(wantLines)) {
		g, w := at(gotLines, i), at(wantLines, i)
		if g != w {
			t.Fatalf("line %d differs:\n-got  %.120s\n+want %.120s", i+1, g, w)
		}
	}
}

func at(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return ""
}

// realWeights returns the first n floats of layer 0's wq from the
// TinyStories 260K llama2.c checkpoint (after the 7-int header, the
// 512x64 embedding and 5x64 attention norms).
func realWeights(tb testing.TB, n int) []float32 {
	tb.Helper()
	raw, err := os.ReadFile(testenv.SharedFile(tb, "models/stories260K.bin"))
	if err != nil {
		tb.Fatal(err)
	}
	off := 7*4 + (512*64+5*64)*4
	if len(raw) < off+4*n {
		tb.Fatalf("model file too short")
	}
	x := make([]float32, n)
	for i := range x {
		x[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[off+4*i:]))
	}
	return x
}

// TestQuantizeRealWeights bounds the round-trip error on real weights: the
// worst element error is at most half a quantization step per block (plus
// the fp16 rounding of the scale), and Q4_K's fitted scales do better than
// Q4_0 on average.
func TestQuantizeRealWeights(t *testing.T) {
	x := realWeights(t, 64*64)
	rms := map[DType]float64{}
	for _, typ := range []DType{F32, F16, BF16, Q8_0, Q4_0, Q4_K} {
		n, _ := typ.RowBytes(len(x))
		buf := make([]byte, n)
		if err := Quantize(buf, x, typ); err != nil {
			t.Fatal(err)
		}
		y := make([]float32, len(x))
		if err := Dequantize(y, buf, typ); err != nil {
			t.Fatal(err)
		}
		bs := max(typ.BlockSize(), 32)
		var se float64
		for b := 0; b < len(x); b += bs {
			var amax float64
			for _, v := range x[b : b+bs] {
				amax = max(amax, math.Abs(float64(v)))
			}
			step := map[DType]float64{F32: 0, F16: amax * 0x1p-10, BF16: amax * 0x1p-7, Q8_0: amax / 127, Q4_0: amax / 8, Q4_K: amax / 7.5}[typ]
			for i := b; i < b+bs; i++ {
				e := math.Abs(float64(y[i]) - float64(x[i]))
				se += e * e
				if e > step*0.5+amax*0x1p-10+1e-12 && typ != Q4_K && typ != Q4_0 { // half a step plus the fp16 rounding of the scale
					t.Fatalf("%v: element %d error %g > half step %g", typ, i, e, step/2)
				}
				// Q4_0 maps the extreme to -8 and clamps the other side at +7:
				// up to one step there. Q4_K fits its scales: one step.
				if (typ == Q4_K || typ == Q4_0) && e > step+amax*0x1p-10 {
					t.Fatalf("%v: element %d error %g > step %g", typ, i, e, step)
				}
			}
		}
		rms[typ] = math.Sqrt(se / float64(len(x)))
	}
	if rms[F32] != 0 {
		t.Errorf("F32 round trip not exact: rms %g", rms[F32])
	}
	if !(rms[Q8_0] < rms[Q4_K] && rms[Q4_K] < rms[Q4_0]) {
		t.Errorf("rms errors out of order: %v", rms)
	}
}

func TestQuantizeErrors(t *testing.T) {
	tests := []struct {
		name string
		dst  int
		src  int
		typ  DType
		want error
	}{
		{"ok", 34, 32, Q8_0, nil},
		{"short dst", 33, 32, Q8_0, ErrShape},
		{"partial block", 34, 31, Q8_0, ErrShape},
		{"unknown type", 100, 32, DType(3), ErrUnknownType},
	}
	for _, tc := range tests {
		err := Quantize(make([]byte, tc.dst), make([]float32, tc.src), tc.typ)
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("Quantize %s: %v, want %v", tc.name, err, tc.want)
		}
		err = Dequantize(make([]float32, tc.src), make([]byte, tc.dst), tc.typ)
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("Dequantize %s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestF32Bytes(t *testing.T) {
	got := F32Bytes([]float32{1, -2})
	if want := []byte{0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0}; !bytes.Equal(got, want) {
		t.Fatalf("got %x want %x", got, want)
	}
}

// FuzzDequantize decodes arbitrary bytes as every type: it must never
// panic, and a successful decode must fill exactly the requested values.
func FuzzDequantize(f *testing.F) {
	real := realWeights(f, 1024)
	for _, typ := range []DType{F32, F16, BF16, Q8_0, Q4_0, Q4_K} {
		n, _ := typ.RowBytes(512)
		buf := make([]byte, n)
		if err := Quantize(buf, real[:512], typ); err != nil {
			f.Fatal(err)
		}
		f.Add(uint32(typ), uint16(512), buf)
	}
	f.Add(uint32(Q4_K), uint16(256), bytes.Repeat([]byte{0xff}, 144)) // NaN scales
	f.Fuzz(func(t *testing.T, typ uint32, n uint16, data []byte) {
		dst := make([]float32, int(n)%2048)
		err := Dequantize(dst, data, DType(typ))
		if err != nil {
			if !errors.Is(err, ErrShape) && !errors.Is(err, ErrUnknownType) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if need, _ := DType(typ).RowBytes(len(dst)); need > len(data) {
			t.Fatalf("decoded %d values from %d bytes, needs %d", len(dst), len(data), need)
		}
	})
}
