package kernels

import (
	"encoding/binary"
	"math"
)

// Q4_K super-block (144 bytes, 256 values): fp16 d, fp16 dmin, 12 bytes
// holding eight 6-bit scales and eight 6-bit mins, then 128 bytes of
// nibbles. Value i of sub-block j is d*scale[j]*q - dmin*min[j]. Sub-blocks
// come in pairs sharing 32 bytes: the low nibbles hold sub-block 2k, the high
// nibbles sub-block 2k+1.

// scaleMinK4 unpacks the 6-bit scale and min of sub-block j (ggml's
// get_scale_min_k4).
func scaleMinK4(j int, q []byte) (sc, m uint8) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return (q[j+4] & 0xf) | ((q[j-4] >> 6) << 4), (q[j+4] >> 4) | ((q[j] >> 6) << 4)
}

func dequantizeBlockQ4_K(y []float32, b []byte) {
	d := FP16ToFP32(binary.LittleEndian.Uint16(b[0:]))
	dmin := FP16ToFP32(binary.LittleEndian.Uint16(b[2:]))
	scales := b[4:16]
	q := b[16:144]
	for j := 0; j < QK_K/64; j++ {
		sc, m := scaleMinK4(2*j, scales)
		d1, m1 := d*float32(sc), dmin*float32(m)
		sc, m = scaleMinK4(2*j+1, scales)
		d2, m2 := d*float32(sc), dmin*float32(m)
		qs := q[32*j : 32*j+32]
		out := y[64*j : 64*j+64]
		for l := range 32 {
			out[l] = float32(d1*float32(qs[l]&0xf)) - m1
			out[l+32] = float32(d2*float32(qs[l]>>4)) - m2
		}
	}
}

// nearestInt rounds half to even like ggml's nearest_int (the 1.5*2^23 trick).
func nearestInt(f float32) int { return int(math.RoundToEven(float64(f))) }

// quantizeBlockQ4_K mirrors quantize_row_q4_K_ref for one super-block.
func quantizeBlockQ4_K(dst []byte, x []float32) {
	var (
		L       [QK_K]uint8
		laux    [32]uint8
		weights [32]float32
		mins    [QK_K / 32]float32
		scales  [QK_K / 32]float32
	)
	var maxScale, maxMin float32
	for j := range QK_K / 32 {
		xs := x[32*j : 32*j+32]
		var sumX2 float32
		for _, v := range xs {
			sumX2 += float32(v * v)
		}
		avX := float32(math.Sqrt(float64(sumX2 / 32)))
		for l, v := range xs {
			weights[l] = avX + abs32(v)
		}
		scales[j], mins[j] = makeQKX2Quants(15, xs, weights[:], L[32*j:32*j+32], laux[:], -1, 0.1, 20)
		maxScale = max(maxScale, scales[j])
		maxMin = max(maxMin, mins[j])
	}
	var invScale, invMin float32
	if maxScale > 0 {
		invScale = 63 / maxScale
	}
	if maxMin > 0 {
		invMin = 63 / maxMin
	}
	sc := dst[4:16]
	clear(sc)
	for j := range QK_K / 32 {
		ls := min(63, uint8(nearestInt(float32(invScale*scales[j]))))
		lm := min(63, uint8(nearestInt(float32(invMin*mins[j]))))
		if j < 4 {
			sc[j] = ls
			sc[j+4] = lm
		} else {
			sc[j+4] = (ls & 0xf) | ((lm & 0xf) << 4)
			sc[j-4] |= (ls >> 4) << 6
			sc[j] |= (lm >> 4) << 6
		}
	}
	dh := FP32ToFP16(maxScale / 63)
	mh := FP32ToFP16(maxMin / 63)
	binary.LittleEndian.PutUint16(dst[0:], dh)
	binary.LittleEndian.PutUint16(dst[2:], mh)
	df, mf := FP16ToFP32(dh), FP16ToFP32(mh)
	for j := range QK_K / 32 {
		s, m := scaleMinK4(j, sc)
		d := df * float32(s)
		if d == 0 {
			continue
		}
		dm := mf * float32(m)
		for ii := range 32 {
			l := nearestInt(float32(x[32*j+ii]+dm) / d)
			L[32*j+ii] = uint8(max(0, min(15, l)))
		}
	}
	q := dst[16:144]
	for j := 0; j < QK_K; j += 64 {
		for l := range 32 {
			q[j/2+l] = L[j+l] | L[j+l+32]<<4
		}
	}
}

// makeQKX2Quants mirrors ggml's make_qkx2_quants with use_mad=false: it fits
// x ≈ scale*L - min with L in [0,nmax] by a weighted least-squares search
// over nstep+1 candidate scales, and returns scale and the (positive) min.
func makeQKX2Quants(nmax int, x, weights []float32, L, laux []uint8, rmin, rdelta float32, nstep int) (scale, theMin float32) {
	n := len(x)
	mn, mx := x[0], x[0]
	sumW := weights[0]
	sumX := float32(sumW * x[0])
	for i := 1; i < n; i++ {
		mn = min(mn, x[i])
		mx = max(mx, x[i])
		w := weights[i]
		sumW += w
		sumX += float32(w * x[i])
	}
	if mn > 0 {
		mn = 0
	}
	if mx == mn {
		for i := range n {
			L[i] = 0
		}
		return 0, -mn
	}
	iscale := float32(nmax) / (mx - mn)
	scale = 1 / iscale
	var bestError float32
	for i := range n {
		l := nearestInt(float32(iscale * float32(x[i]-mn)))
		L[i] = uint8(max(0, min(nmax, l)))
		diff := float32(float32(scale*float32(L[i]))+mn) - x[i]
		bestError += float32(weights[i] * float32(diff*diff))
	}
	for is := 0; is <= nstep; is++ {
		iscale = float32(float32(rmin+float32(rdelta*float32(is)))+float32(nmax)) / (mx - mn)
		var sumL, sumL2, sumXL float32
		for i := range n {
			l := max(0, min(nmax, nearestInt(float32(iscale*float32(x[i]-mn)))))
			laux[i] = uint8(l)
			w := weights[i]
			fl := float32(l)
			sumL += float32(w * fl)
			sumL2 += float32(float32(w*fl) * fl)
			sumXL += float32(float32(w*fl) * x[i])
		}
		D := float32(sumW*sumL2) - float32(sumL*sumL)
		if D > 0 {
			thisScale := float32(float32(sumW*sumXL)-float32(sumX*sumL)) / D
			thisMin := float32(float32(sumL2*sumX)-float32(sumL*sumXL)) / D
			if thisMin > 0 {
				thisMin = 0
				thisScale = sumXL / sumL2
			}
			var curError float32
			for i := range n {
				diff := float32(float32(thisScale*float32(laux[i]))+thisMin) - x[i]
				curError += float32(weights[i] * float32(diff*diff))
			}
			if curError < bestError {
				copy(L[:n], laux[:n])
				bestError = curError
				scale = thisScale
				mn = thisMin
			}
		}
	}
	return scale, -mn
}
