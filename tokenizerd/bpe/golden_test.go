package bpe

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

type goldenCase struct {
	Text string  `json:"text"`
	IDs  []int32 `json:"ids"`
}

func readGolden(t testing.TB, name string) []goldenCase {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []goldenCase
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var c goldenCase
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if c.IDs == nil {
			c.IDs = []int32{}
		}
		out = append(out, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

var tiktokenCache sync.Map

func tiktoken(t testing.TB, name string) *Loaded {
	t.Helper()
	if v, ok := tiktokenCache.Load(name); ok {
		return v.(*Loaded)
	}
	l, err := LoadTiktoken(name)
	if err != nil {
		t.Fatal(err)
	}
	tiktokenCache.Store(name, l)
	return l
}

// checkGolden encodes every case and reports mismatches as -got +want.
func checkGolden(t *testing.T, m *Model, cases []goldenCase) {
	t.Helper()
	bad := 0
	for i, c := range cases {
		got := m.Encode(nil, c.Text)
		if got == nil {
			got = []int32{}
		}
		if !slices.Equal(got, c.IDs) {
			bad++
			if bad <= 10 {
				t.Errorf("case %d %q:\n-got  %v\n+want %v", i, c.Text, got, c.IDs)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d cases differ", bad, len(cases))
	}
}

func TestTiktokenGolden(t *testing.T) {
	for _, name := range TiktokenNames {
		t.Run(name, func(t *testing.T) {
			checkGolden(t, tiktoken(t, name).Model, readGolden(t, name+".jsonl"))
		})
	}
}

func decodeAll(m *Model, ids []int32) string {
	var b strings.Builder
	for _, id := range ids {
		b.Write(m.TokenBytes(id))
	}
	return b.String()
}

func TestTiktokenDecode(t *testing.T) {
	l := tiktoken(t, "cl100k_base")
	for _, c := range readGolden(t, "cl100k_base.jsonl") {
		if got := decodeAll(l.Model, c.IDs); got != c.Text {
			t.Fatalf("decode(%v) = %q, want %q", c.IDs, got, c.Text)
		}
	}
	if got := string(l.Model.TokenBytes(100257)); got != "<|endoftext|>" {
		t.Errorf("TokenBytes(100257) = %q", got)
	}
	for _, id := range []int32{-1, 100256, 100277} {
		if b := l.Model.TokenBytes(id); b != nil {
			t.Errorf("TokenBytes(%d) = %q, want nil", id, b)
		}
	}
	if n := l.Model.VocabSize(); n != 100277 {
		t.Errorf("VocabSize = %d", n)
	}
}
