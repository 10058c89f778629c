package kvpool

import (
	"encoding/binary"
	"math/bits"
)

// BlockHash identifies the content of one full KV block together with every
// token before it: h_i = XXH64(LE32(tokens of block i), seed = h_{i-1}), with
// h_{-1} = the sequence's Seed. Two blocks have the same BlockHash exactly when
// (up to a 2^-64 collision, which the pool detects, see doc.go) the same model
// and salt saw the same token ids from position 0 to the end of the block.
type BlockHash uint64

// Seed is the root of a hash chain: it binds block hashes to one model and one
// cache salt (tenant), so equal token ids under different models or salts
// never share blocks. Build it with NewSeed.
type Seed uint64

// seedDomain versions the seed encoding; changing how hashes are computed
// must change this string so that old and new workers never agree by accident.
const seedDomain = "krserve.kv.v1"

// NewSeed returns the chain root for modelID and salt:
//
//	XXH64(seedDomain || 0x00 || LE32(len(modelID)) || modelID || LE32(len(salt)) || salt, seed 0)
//
// The length prefixes make the encoding unambiguous ("ab"+"c" differs from
// "a"+"bc"). An empty salt means "no tenant isolation".
func NewSeed(modelID, salt string) Seed {
	var stack [128]byte
	buf := stack[:0]
	buf = append(buf, seedDomain...)
	buf = append(buf, 0)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(modelID)))
	buf = append(buf, modelID...)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(salt)))
	buf = append(buf, salt...)
	return Seed(xxh64(buf, 0))
}

// Root returns the seed as the parent hash of a chain's first block; KV events
// carry it as the Parent of depth-0 blocks.
func (s Seed) Root() BlockHash { return BlockHash(s) }

// HashBlock returns the hash of one block of token ids whose predecessor has
// hash parent (use Seed.Root for the first block). It hashes the little-endian
// bytes of the int32 token ids with XXH64 seeded by parent, without copying.
func HashBlock(parent BlockHash, tokens []int32) BlockHash {
	return BlockHash(xxh64Tokens(tokens, uint64(parent)))
}

// ChainHashes returns the chained hashes of every full block of tokens:
// element i covers tokens[i*blockSize:(i+1)*blockSize]. A trailing partial
// block is not hashed. It returns nil when blockSize < 1 or no block is full.
// The result depends only on its arguments, so every process (engine,
// tokenizer, router) computes the same hashes.
func ChainHashes(seed Seed, tokens []int32, blockSize int) []BlockHash {
	if blockSize < 1 || len(tokens) < blockSize {
		return nil
	}
	return AppendChainHashes(make([]BlockHash, 0, len(tokens)/blockSize), seed, tokens, blockSize)
}

// AppendChainHashes appends the chained hashes of every full block of tokens
// to dst and returns the extended slice (no allocation when dst has room).
func AppendChainHashes(dst []BlockHash, seed Seed, tokens []int32, blockSize int) []BlockHash {
	if blockSize < 1 {
		return dst
	}
	h := seed.Root()
	for len(tokens) >= blockSize {
		h = HashBlock(h, tokens[:blockSize])
		dst = append(dst, h)
		tokens = tokens[blockSize:]
	}
	return dst
}

// XXH64 (https://github.com/Cyan4973/xxHash/blob/dev/doc/xxhash_spec.md).
const (
	prime1 uint64 = 11400714785074694791
	prime2 uint64 = 14029467366897019727
	prime3 uint64 = 1609587929392839161
	prime4 uint64 = 9650029242287828579
	prime5 uint64 = 2870177450012600261
)

func xxRound(acc, input uint64) uint64 {
	acc += input * prime2
	acc = bits.RotateLeft64(acc, 31)
	return acc * prime1
}

func xxMerge(acc, val uint64) uint64 {
	acc ^= xxRound(0, val)
	return acc*prime1 + prime4
}

func xxAvalanche(h uint64) uint64 {
	h ^= h >> 33
	h *= prime2
	h ^= h >> 29
	h *= prime3
	h ^= h >> 32
	return h
}

func xxFold(v1, v2, v3, v4 uint64) uint64 {
	h := bits.RotateLeft64(v1, 1) + bits.RotateLeft64(v2, 7) +
		bits.RotateLeft64(v3, 12) + bits.RotateLeft64(v4, 18)
	h = xxMerge(h, v1)
	h = xxMerge(h, v2)
	h = xxMerge(h, v3)
	return xxMerge(h, v4)
}

func xxLane8(h, lane uint64) uint64 {
	h ^= xxRound(0, lane)
	return bits.RotateLeft64(h, 27)*prime1 + prime4
}

func xxLane4(h uint64, lane uint32) uint64 {
	h ^= uint64(lane) * prime1
	return bits.RotateLeft64(h, 23)*prime2 + prime3
}

// xxh64 is the reference XXH64 of b with seed.
func xxh64(b []byte, seed uint64) uint64 {
	n := len(b)
	var h uint64
	if n >= 32 {
		v1, v2, v3, v4 := seed+prime1+prime2, seed+prime2, seed, seed-prime1
		for len(b) >= 32 {
			v1 = xxRound(v1, binary.LittleEndian.Uint64(b[0:8]))
			v2 = xxRound(v2, binary.LittleEndian.Uint64(b[8:16]))
			v3 = xxRound(v3, binary.LittleEndian.Uint64(b[16:24]))
			v4 = xxRound(v4, binary.LittleEndian.Uint64(b[24:32]))
			b = b[32:]
		}
		h = xxFold(v1, v2, v3, v4)
	} else {
		h = seed + prime5
	}
	h += uint64(n)
	for len(b) >= 8 {
		h = xxLane8(h, binary.LittleEndian.Uint64(b))
		b = b[8:]
	}
	if len(b) >= 4 {
		h = xxLane4(h, binary.LittleEndian.Uint32(b))
		b = b[4:]
	}
	for _, c := range b {
		h ^= uint64(c) * prime5
		h = bits.RotateLeft64(h, 11) * prime1
	}
	return xxAvalanche(h)
}

// pair reads two token ids as the little-endian 8-byte lane they form.
func pair(a, b int32) uint64 { return uint64(uint32(a)) | uint64(uint32(b))<<32 }

// xxh64Tokens equals xxh64(LE32 bytes of t, seed) without materializing the
// bytes: every lane of 8 bytes is two token ids.
func xxh64Tokens(t []int32, seed uint64) uint64 {
	n := uint64(len(t)) * 4
	var h uint64
	if len(t) >= 8 {
		v1, v2, v3, v4 := seed+prime1+prime2, seed+prime2, seed, seed-prime1
		for len(t) >= 8 {
			v1 = xxRound(v1, pair(t[0], t[1]))
			v2 = xxRound(v2, pair(t[2], t[3]))
			v3 = xxRound(v3, pair(t[4], t[5]))
			v4 = xxRound(v4, pair(t[6], t[7]))
			t = t[8:]
		}
		h = xxFold(v1, v2, v3, v4)
	} else {
		h = seed + prime5
	}
	h += n
	for len(t) >= 2 {
		h = xxLane8(h, pair(t[0], t[1]))
		t = t[2:]
	}
	if len(t) == 1 {
		h = xxLane4(h, uint32(t[0]))
	}
	return xxAvalanche(h)
}
