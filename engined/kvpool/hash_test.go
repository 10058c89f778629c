package kvpool

import (
	"bufio"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/krserve/krserve/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// sanityBuffer is the input of the xxHash reference sanity check
// (cli/xsum_sanity_check.c): bytes of a squared 32-bit generator.
func sanityBuffer(n int) []byte {
	const prime32 = 2654435761
	buf := make([]byte, n)
	gen := uint32(prime32)
	for i := range buf {
		buf[i] = byte(gen >> 24)
		gen *= gen
	}
	return buf
}

func TestXXH64ReferenceVectors(t *testing.T) {
	const prime32 = 2654435761
	sb := sanityBuffer(101)
	tests := []struct {
		in   []byte
		seed uint64
		want uint64
	}{
		{nil, 0, 0xEF46DB3751D8E999},
		{nil, prime32, 0xAC75FDA2929B17EF},
		{sb[:1], 0, 0x4FCE394CC88952D8},
		{sb[:1], prime32, 0x739840CB819FA723},
		{sb[:14], 0, 0xCFFA8DB881BC3A3D},
		{sb[:14], prime32, 0x5B9611585EFCC9CB},
		{sb, 0, 0x0EAB543384F878AD},
		{sb, prime32, 0xCAA65939306F1E21},
		{[]byte("a"), 0, 0xD24EC4F1A98C6E5B},
		{[]byte("abc"), 0, 0x44BC2CF5AD770999},
		{[]byte("Nobody inspects the spammish repetition"), 0, 0xFBCEA83C8A378BF1},
	}
	for _, tt := range tests {
		if got := xxh64(tt.in, tt.seed); got != tt.want {
			t.Errorf("xxh64(%d bytes, seed %d) = %#x, want %#x", len(tt.in), tt.seed, got, tt.want)
		}
	}
}

func leBytes(tokens []int32) []byte {
	b := make([]byte, 0, 4*len(tokens))
	for _, t := range tokens {
		b = binary.LittleEndian.AppendUint32(b, uint32(t))
	}
	return b
}

func TestTokenHashEqualsByteHash(t *testing.T) {
	for n := range 70 {
		toks := make([]int32, n)
		for i := range toks {
			toks[i] = int32(i*2654435761) ^ -7
		}
		for _, seed := range []uint64{0, 1, 0xdeadbeefcafe} {
			if got, want := xxh64Tokens(toks, seed), xxh64(leBytes(toks), seed); got != want {
				t.Fatalf("%d tokens, seed %#x: token hash %#x, byte hash %#x", n, seed, got, want)
			}
		}
	}
}

func TestChainHashes(t *testing.T) {
	seed := NewSeed("m", "")
	toks := seqTokens(100, 50)
	hs := ChainHashes(seed, toks, 16)
	if len(hs) != 3 {
		t.Fatalf("50 tokens in blocks of 16: %d hashes, want 3 (partial block not hashed)", len(hs))
	}
	if hs[0] != HashBlock(seed.Root(), toks[:16]) || hs[2] != HashBlock(hs[1], toks[32:48]) {
		t.Errorf("hashes are not chained as h_i = HashBlock(h_{i-1}, block i)")
	}
	if got := ChainHashes(seed, toks[:33], 16); !slices.Equal(got, hs[:2]) {
		t.Errorf("a prefix's hashes are not a prefix of the hashes")
	}
	other := slices.Clone(toks)
	other[3]++
	if got := ChainHashes(seed, other, 16); got[0] == hs[0] || got[1] == hs[1] {
		t.Errorf("changing token 3 must change every later block hash")
	}
	if got := ChainHashes(NewSeed("m", "tenant"), toks, 16); got[0] == hs[0] {
		t.Errorf("salt does not change the hashes")
	}
	if got := ChainHashes(NewSeed("m2", ""), toks, 16); got[0] == hs[0] {
		t.Errorf("model id does not change the hashes")
	}
	if NewSeed("ab", "c") == NewSeed("a", "bc") {
		t.Errorf("seed encoding is ambiguous")
	}
	for _, bs := range []int{0, -1} {
		if got := ChainHashes(seed, toks, bs); got != nil {
			t.Errorf("block size %d: %v, want nil", bs, got)
		}
	}
	buf := make([]BlockHash, 0, 8)
	if allocs := testing.AllocsPerRun(100, func() { buf = AppendChainHashes(buf[:0], seed, toks, 16) }); allocs != 0 {
		t.Errorf("AppendChainHashes with room allocates %v times", allocs)
	}
}

// realTokenLines reads the llama-spm tokenizer test vectors: real token ids.
func realTokenLines(t testing.TB) [][]int32 {
	t.Helper()
	f, err := os.Open(testenv.SharedFile(t, "vocab/ggml-vocab-llama-spm.gguf.out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]int32
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ids []int32
		for _, w := range strings.Fields(sc.Text()) {
			v, err := strconv.ParseInt(w, 10, 32)
			if err != nil {
				t.Fatalf("token line %q: %v", sc.Text(), err)
			}
			ids = append(ids, int32(v))
		}
		out = append(out, ids)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestChainHashesGolden pins the hash definition: tokenizer workers and
// routers in other processes (or languages) must produce these values.
func TestChainHashesGolden(t *testing.T) {
	type gcase struct {
		model, salt string
		bs          int
		toks        []int32
	}
	cases := []gcase{
		{"stories260K", "", 16, seqTokens(0, 40)},
		{"stories260K", "tenant-a", 16, seqTokens(0, 40)},
		{"stories260K", "", 4, []int32{-1, 0, 1, 2147483647, -2147483648, 5, 6, 7, 8}},
		{"", "", 1, []int32{42}},
	}
	for _, ids := range realTokenLines(t) {
		if len(ids) >= 8 {
			cases = append(cases, gcase{"llama-spm", "", 8, ids})
		}
	}
	var sb strings.Builder
	for _, c := range cases {
		seed := NewSeed(c.model, c.salt)
		fmt.Fprintf(&sb, "model=%q salt=%q block=%d seed=%016x tokens=%v\n", c.model, c.salt, c.bs, uint64(seed), c.toks)
		for i, h := range ChainHashes(seed, c.toks, c.bs) {
			fmt.Fprintf(&sb, "  h%d=%016x\n", i, uint64(h))
		}
	}
	got := sb.String()
	path := filepath.Join("testdata", "chain_hashes.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := range max(len(gl), len(wl)) {
			g, w := "", ""
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("golden mismatch at line %d:\n-got  %s\n+want %s", i+1, g, w)
			}
		}
	}
}

func FuzzChainHashes(f *testing.F) {
	for _, ids := range realTokenLines(f) {
		f.Add(leBytes(ids), "llama-spm", "", uint8(16))
	}
	f.Add([]byte{}, "", "", uint8(0))
	f.Add(leBytes(seqTokens(0, 33)), "m", "salt", uint8(1))
	f.Fuzz(func(t *testing.T, raw []byte, model, salt string, bs uint8) {
		toks := make([]int32, len(raw)/4)
		for i := range toks {
			toks[i] = int32(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		seed := NewSeed(model, salt)
		a := ChainHashes(seed, toks, int(bs))
		b := AppendChainHashes(nil, seed, toks, int(bs))
		if !slices.Equal(a, b) {
			t.Fatalf("ChainHashes and AppendChainHashes differ")
		}
		if bs == 0 {
			if a != nil {
				t.Fatalf("block size 0 gave hashes")
			}
			return
		}
		if len(a) != len(toks)/int(bs) {
			t.Fatalf("%d hashes for %d tokens in blocks of %d", len(a), len(toks), bs)
		}
		parent := seed.Root()
		for i, h := range a {
			blk := toks[i*int(bs) : (i+1)*int(bs)]
			if want := BlockHash(xxh64(leBytes(blk), uint64(parent))); h != want {
				t.Fatalf("block %d: %#x, byte-level XXH64 gives %#x", i, h, want)
			}
			parent = h
		}
	})
}

func BenchmarkChainHashes(b *testing.B) {
	seed := NewSeed("bench", "")
	toks := seqTokens(0, 1024)
	dst := make([]BlockHash, 0, 64)
	b.SetBytes(int64(4 * len(toks)))
	for b.Loop() {
		dst = AppendChainHashes(dst[:0], seed, toks, 16)
	}
}
