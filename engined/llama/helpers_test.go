package llama

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/krserve/krserve/engined/sample"
	"github.com/krserve/krserve/internal/testenv"
)

// tok512 decodes ids the way llama2.c's run.c prints them: the piece after
// BOS loses its leading space and <0xNN> pieces are raw bytes.
type tok512 struct{ pieces []string }

func loadTok512(t testing.TB) *tok512 {
	t.Helper()
	b, err := os.ReadFile(testenv.SharedFile(t, "models/tok512.bin"))
	if err != nil {
		t.Fatal(err)
	}
	tk := &tok512{}
	off := 4
	for len(tk.pieces) < 512 {
		n := int(binary.LittleEndian.Uint32(b[off+4:]))
		tk.pieces = append(tk.pieces, string(b[off+8:off+8+n]))
		off += 8 + n
	}
	return tk
}

func (tk *tok512) decode(prev int32, ids []int32) string {
	var sb strings.Builder
	for _, id := range ids {
		p := tk.pieces[id]
		if prev == 1 && strings.HasPrefix(p, " ") {
			p = p[1:]
		}
		var bt byte
		if n, _ := fmt.Sscanf(p, "<0x%02X>", &bt); n == 1 && len(p) == 6 {
			p = string([]byte{bt})
		}
		sb.WriteString(p)
		prev = id
	}
	return sb.String()
}

func loadModel(t testing.TB, rel string, opts ...Option) *Model {
	t.Helper()
	m, err := Load(testenv.SharedFile(t, rel), opts...)
	if err != nil {
		t.Fatalf("load %s: %v", rel, err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func greedy(t testing.TB, m *Model, prompt []int32, maxTokens int) *Generation {
	t.Helper()
	s, err := sample.New(sample.Params{}, m.Config().Vocab)
	if err != nil {
		t.Fatal(err)
	}
	g, err := m.Generate(context.Background(), prompt, s, GenerateOptions{MaxTokens: maxTokens}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func relErr(a, b []float32) float64 {
	var num, den float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		num += d * d
		den += float64(b[i]) * float64(b[i])
	}
	return math.Sqrt(num / math.Max(den, 1e-30))
}
