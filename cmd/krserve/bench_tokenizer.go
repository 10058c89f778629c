package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/krserve/krserve/tokenizerd/tokenizer"
)

func init() {
	registerBench(&command{
		name:    "tokenizer",
		summary: "measure encode throughput (single thread and batch) on a JSONL corpus, plus pathological inputs",
		usage:   "--vocab V --corpus FILE.jsonl [--threads N] [--json]",
		run:     runBenchTokenizer,
	})
}

// tokenizerBench is the --json output.
type tokenizerBench struct {
	Vocab          string             `json:"vocab"`
	Bytes          int64              `json:"bytes"`
	Tokens         int64              `json:"tokens"`
	SingleMBs      float64            `json:"single_mb_s"`
	BatchMBs       float64            `json:"batch_mb_s"`
	Threads        int                `json:"threads"`
	SingleTokensS  float64            `json:"single_tokens_s"`
	BatchTokensS   float64            `json:"batch_tokens_s"`
	PathologicalMs map[string]float64 `json:"pathological_ms"`
}

func runBenchTokenizer(ctx context.Context, env *cmdEnv, fs *flag.FlagSet, args []string) error {
	loadVocab := vocabFlag(fs)
	corpus := fs.String("corpus", "", "JSON lines {\"text\": …} to encode")
	threads := fs.Int("threads", runtime.GOMAXPROCS(0), "workers for the batch measurement")
	asJSON := fs.Bool("json", false, "print one JSON object")
	minTime := fs.Duration("time", time.Second, "minimum time of each measurement")
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	if *corpus == "" {
		return fmt.Errorf("%w: --corpus is required", errUsage)
	}
	if *threads < 1 {
		return fmt.Errorf("%w: --threads %d, want ≥ 1", errUsage, *threads)
	}
	tk, err := loadVocab()
	if err != nil {
		return err
	}
	texts, err := readCorpus(*corpus)
	if err != nil {
		return err
	}
	res := tokenizerBench{Vocab: tk.Name(), Threads: *threads, PathologicalMs: map[string]float64{}}
	for _, s := range texts {
		res.Bytes += int64(len(s))
		res.Tokens += int64(len(tk.Encode(s, tokenizer.EncodeOptions{})))
	}
	if res.Bytes == 0 {
		return fmt.Errorf("corpus %s has no text", *corpus)
	}

	// Single thread: every text in turn on this goroutine.
	var dst []int32
	single := measure(*minTime, func() {
		for _, s := range texts {
			dst = tk.AppendEncode(dst[:0], s, tokenizer.EncodeOptions{})
		}
	})

	// Batch: the pool, batches of up to 256 texts.
	cfg := tokenizer.DefaultParallelConfig()
	cfg.NumThreads = *threads
	pool, err := tokenizer.NewPool(tk, cfg, nil)
	if err != nil {
		return err
	}
	var g errgroup.Group
	g.Go(func() error { return pool.Run(ctx) })
	var batchErr error
	batch := measure(*minTime, func() {
		for i := 0; i < len(texts) && batchErr == nil; i += 256 {
			_, batchErr = pool.EncodeBatch(ctx, texts[i:min(len(texts), i+256)], tokenizer.EncodeOptions{})
		}
	})
	pool.Close()
	if err := errors.Join(batchErr, g.Wait()); err != nil {
		return err
	}
	mb := float64(res.Bytes) / 1e6
	res.SingleMBs, res.BatchMBs = mb/single.Seconds(), mb/batch.Seconds()
	res.SingleTokensS = float64(res.Tokens) / single.Seconds()
	res.BatchTokensS = float64(res.Tokens) / batch.Seconds()

	for name, text := range pathologicalInputs() {
		best := time.Duration(1<<63 - 1)
		for range 3 {
			start := time.Now()
			dst = tk.AppendEncode(dst[:0], text, tokenizer.EncodeOptions{})
			best = min(best, time.Since(start))
		}
		res.PathologicalMs[name] = float64(best.Microseconds()) / 1000
	}

	if *asJSON {
		return json.NewEncoder(env.stdout).Encode(res)
	}
	fmt.Fprintf(env.stdout, "vocab %s: %d texts, %d bytes, %d tokens\n", res.Vocab, len(texts), res.Bytes, res.Tokens)
	fmt.Fprintf(env.stdout, "single thread   %8.2f MB/s  %12.0f tokens/s\n", res.SingleMBs, res.SingleTokensS)
	fmt.Fprintf(env.stdout, "batch %2d thr    %8.2f MB/s  %12.0f tokens/s  (%.2fx)\n", res.Threads, res.BatchMBs, res.BatchTokensS, res.BatchMBs/res.SingleMBs)
	names := make([]string, 0, len(res.PathologicalMs))
	for n := range res.PathologicalMs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(env.stdout, "pathological %-18s %8.2f ms\n", n, res.PathologicalMs[n])
	}
	return nil
}

// measure runs f until minTime has passed (at least once) and returns the
// mean time of one run.
func measure(minTime time.Duration, f func()) time.Duration {
	start := time.Now()
	n := 0
	for {
		f()
		n++
		if el := time.Since(start); el >= minTime {
			return el / time.Duration(n)
		}
	}
}

func readCorpus(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var texts []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<16), maxLineBytes)
	for n := 1; sc.Scan(); n++ {
		b := strings.TrimSpace(sc.Text())
		if b == "" {
			continue
		}
		var rec struct {
			Text *string `json:"text"`
		}
		if err := json.Unmarshal([]byte(b), &rec); err != nil || rec.Text == nil {
			return nil, fmt.Errorf("%s line %d: want {\"text\": …}: %v", path, n, err)
		}
		texts = append(texts, *rec.Text)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return texts, nil
}

// pathologicalInputs are the texts that make naive BPE merge loops
// quadratic: 100 KB of one letter, 100 KB of random letters, 90 KB of Han
// characters with no spaces, 100 KB of base64.
func pathologicalInputs() map[string]string {
	r := rand.New(rand.NewPCG(7, 7))
	letters := make([]byte, 100_000)
	for i := range letters {
		letters[i] = byte('a' + r.IntN(26))
	}
	var han strings.Builder
	for han.Len() < 90_000 {
		han.WriteRune(rune(0x4e00 + r.IntN(0x5000)))
	}
	raw := make([]byte, 75_000)
	for i := range raw {
		raw[i] = byte(r.Uint32())
	}
	return map[string]string{
		"one_letter_100KB": strings.Repeat("a", 100_000),
		"random_100KB":     string(letters),
		"han_90KB":         han.String(),
		"base64_100KB":     base64.StdEncoding.EncodeToString(raw),
	}
}
