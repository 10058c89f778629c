package bpe

// Side-by-side benchmarks against the Go tiktoken ports on the same inputs:
// github.com/pkoukk/tiktoken-go and github.com/tiktoken-go/tokenizer.
// Their pathological inputs are 8 KB rather than 100 KB: both merge long
// pieces in quadratic time.

import (
	"runtime"
	"slices"
	"testing"

	pkoukk "github.com/pkoukk/tiktoken-go"
	tiktokenloader "github.com/pkoukk/tiktoken-go-loader"
	tkgo "github.com/tiktoken-go/tokenizer"
)

func pkoukkEncoding(b *testing.B, name string) *pkoukk.Tiktoken {
	b.Helper()
	pkoukk.SetBpeLoader(tiktokenloader.NewOfflineLoader())
	enc, err := pkoukk.GetEncoding(name)
	if err != nil {
		b.Fatal(err)
	}
	return enc
}

func tkgoCodec(b *testing.B, name string) tkgo.Codec {
	b.Helper()
	c, err := tkgo.Get(tkgo.Encoding(name))
	if err != nil {
		b.Fatal(err)
	}
	return c
}

var compareInputs = []string{"prose", "code", "cjk", "one-letter", "random-letters", "han", "base64"}

func compareText(b *testing.B, name string) string {
	switch name {
	case "prose", "code", "cjk":
		return corpus(b, name)
	}
	return pathological(name, 8<<10)
}

func BenchmarkCompare(b *testing.B) {
	for _, vocab := range TiktokenNames {
		for _, in := range compareInputs {
			b.Run(vocab+"/"+in+"/bpe", func(b *testing.B) {
				benchEncode(b, tiktoken(b, vocab).Model, compareText(b, in))
			})
			b.Run(vocab+"/"+in+"/pkoukk-tiktoken-go", func(b *testing.B) {
				text, enc := compareText(b, in), pkoukkEncoding(b, vocab)
				checkSame(b, tiktoken(b, vocab).Model, text, enc.EncodeOrdinary(text))
				b.SetBytes(int64(len(text)))
				b.ReportAllocs()
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				cpu0 := threadCPU()
				for b.Loop() {
					enc.EncodeOrdinary(text)
				}
				reportCPU(b, cpu0, len(text))
			})
			b.Run(vocab+"/"+in+"/tiktoken-go-tokenizer", func(b *testing.B) {
				text, c := compareText(b, in), tkgoCodec(b, vocab)
				ids, _, err := c.Encode(text)
				if err != nil {
					b.Fatal(err)
				}
				checkSame(b, tiktoken(b, vocab).Model, text, ids)
				b.SetBytes(int64(len(text)))
				b.ReportAllocs()
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				cpu0 := threadCPU()
				for b.Loop() {
					c.Encode(text)
				}
				reportCPU(b, cpu0, len(text))
			})
		}
	}
}

// checkSame reports (without failing: the ports have their own bugs) when
// another library's ids differ from ours.
func checkSame[T int | uint](b *testing.B, m *Model, text string, ids []T) {
	ours := m.Encode(nil, text)
	theirs := make([]int32, len(ids))
	for i, id := range ids {
		theirs[i] = int32(id)
	}
	if !slices.Equal(ours, theirs) {
		b.Logf("ids differ from ours (%d vs %d tokens)", len(theirs), len(ours))
	}
}
