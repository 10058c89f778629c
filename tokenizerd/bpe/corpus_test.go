package bpe

import (
	"bytes"
	"compress/gzip"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
)

// Benchmark corpora, read from the machine rather than committed:
//   prose: the King James Bible (Debian bible-kjv-text, dumped with the
//          bible tool) or any text file named by $KRSERVE_PROSE;
//   code:  the Go sources of net/http in GOROOT;
//   cjk:   the Chinese manual pages of Debian (/usr/share/man/zh_CN).

var corpusCache sync.Map

func corpus(b testing.TB, name string) string {
	b.Helper()
	if v, ok := corpusCache.Load(name); ok {
		return v.(string)
	}
	var s string
	switch name {
	case "prose":
		s = proseCorpus(b)
	case "code":
		s = codeCorpus(b)
	case "cjk":
		s = cjkCorpus(b)
	}
	corpusCache.Store(name, s)
	return s
}

func proseCorpus(b testing.TB) string {
	if p := os.Getenv("KRSERVE_PROSE"); p != "" {
		data, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		return string(data)
	}
	bible, err := exec.LookPath("bible")
	if err != nil {
		b.Skip("no prose corpus: apt-get install bible-kjv, or set KRSERVE_PROSE")
	}
	out, err := exec.Command(bible, "-f", "gen1:1-rev22:21").Output()
	if err != nil || len(out) < 1<<20 {
		b.Skipf("bible: %v (%d bytes)", err, len(out))
	}
	// Drop the "Ge1:1 " verse references: keep the prose.
	var sb strings.Builder
	for _, line := range strings.Split(string(out), "\n") {
		if _, rest, ok := strings.Cut(line, " "); ok {
			sb.WriteString(rest)
			sb.WriteByte('\n')
		}
	}
	return sb.String()
}

func codeCorpus(b testing.TB) string {
	dir := filepath.Join(runtime.GOROOT(), "src", "net", "http")
	files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	sort.Strings(files)
	var sb strings.Builder
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err == nil {
			sb.Write(data)
		}
		if sb.Len() > 2<<20 {
			break
		}
	}
	if sb.Len() == 0 {
		b.Skip("no Go sources in GOROOT")
	}
	return sb.String()
}

func cjkCorpus(b testing.TB) string {
	files, _ := filepath.Glob("/usr/share/man/zh_CN/man*/*.gz")
	sort.Strings(files)
	var sb strings.Builder
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			continue
		}
		text, _ := io.ReadAll(zr)
		sb.Write(text)
	}
	if sb.Len() < 1<<16 {
		b.Skip("no Chinese manual pages under /usr/share/man/zh_CN")
	}
	return sb.String()
}

// Pathological inputs of any size: long pieces with no pre-tokenizer
// boundary (the 100 KB acceptance inputs are pathologicalGoldenText).
func pathological(name string, size int) string {
	r := rand.New(rand.NewPCG(1, 2))
	var sb strings.Builder
	switch name {
	case "one-letter":
		return strings.Repeat("a", size)
	case "random-letters":
		for sb.Len() < size {
			sb.WriteByte(byte('a' + r.IntN(26)))
		}
	case "han":
		for sb.Len() < size {
			sb.WriteRune(rune(0x4E00 + r.IntN(0x9FA5-0x4E00)))
		}
	case "base64":
		const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
		for sb.Len() < size {
			sb.WriteByte(alpha[r.IntN(64)])
		}
	}
	return sb.String()
}

var pathologicalNames = []string{"one-letter", "random-letters", "han", "base64"}
