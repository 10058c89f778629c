package sample

// rng is xorshift64* (Vigna), the generator llama2.c uses: tiny, fast and
// identical on every platform. The seed is first mixed with splitmix64 so
// that 0 and small seeds give well-spread, non-zero states.
type rng struct{ s uint64 }

func newRNG(seed uint64) rng {
	z := seed + 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	if z == 0 {
		z = 0x2545f4914f6cdd1d
	}
	return rng{s: z}
}

func (r *rng) u32() uint32 {
	r.s ^= r.s >> 12
	r.s ^= r.s << 25
	r.s ^= r.s >> 27
	return uint32((r.s * 0x2545f4914f6cdd1d) >> 32)
}

// float returns a value in [0, 1) with 24 random bits.
func (r *rng) float() float32 { return float32(r.u32()>>8) / 16777216.0 }
