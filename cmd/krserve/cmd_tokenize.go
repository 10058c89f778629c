package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"

	"golang.org/x/sync/errgroup"

	"github.com/krserve/krserve/tokenizerd/tokenizer"
)

// maxLineBytes bounds one JSON line of tokenize/detokenize input.
const maxLineBytes = 64 << 20

// tokenizeBatch is how many lines go to the pool at once with --threads > 1.
const tokenizeBatch = 256

func init() {
	register(&command{
		name:    "tokenize",
		summary: "encode JSON lines {\"text\": …} from stdin to {\"ids\": […]} on stdout",
		usage:   "--vocab <cl100k_base|o200k_base|path.gguf|tokenizer.json|tokenizer.bin> [--special all|none] [--bos] [--threads N]",
		run:     runTokenize,
	})
	register(&command{
		name:    "detokenize",
		summary: "decode JSON lines {\"ids\": […]} from stdin to {\"text\": …} on stdout",
		usage:   "--vocab <cl100k_base|o200k_base|path.gguf|tokenizer.json|tokenizer.bin>",
		run:     runDetokenize,
	})
}

// vocabFlag adds --vocab and returns a loader that checks it was given.
func vocabFlag(fs *flag.FlagSet) func() (*tokenizer.Tokenizer, error) {
	vocab := fs.String("vocab", "", "vocabulary: cl100k_base, o200k_base, or a .gguf, tokenizer.json or llama2.c tokenizer.bin path")
	return func() (*tokenizer.Tokenizer, error) {
		if *vocab == "" {
			return nil, fmt.Errorf("%w: --vocab is required", errUsage)
		}
		return tokenizer.Load(*vocab)
	}
}

func parseSpecial(s string) (tokenizer.SpecialMode, error) {
	switch s {
	case "none":
		return tokenizer.SpecialNone, nil
	case "all":
		return tokenizer.SpecialAll, nil
	}
	return 0, fmt.Errorf("%w: --special %q, want all or none", errUsage, s)
}

func runTokenize(ctx context.Context, env *cmdEnv, fs *flag.FlagSet, args []string) error {
	loadVocab := vocabFlag(fs)
	special := fs.String("special", "none", "all: special-token text becomes the special token (tiktoken allowed_special=\"all\"); none: it is ordinary text")
	bos := fs.Bool("bos", false, "prepend the vocabulary's BOS token (when it has one)")
	threads := fs.Int("threads", 1, "encode with a pool of N workers (batches of lines; output order is kept)")
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	mode, err := parseSpecial(*special)
	if err != nil {
		return err
	}
	if *threads < 1 {
		return fmt.Errorf("%w: --threads %d, want ≥ 1", errUsage, *threads)
	}
	tk, err := loadVocab()
	if err != nil {
		return err
	}
	opts := tokenizer.EncodeOptions{AddBOS: *bos, Special: mode}
	out := bufio.NewWriterSize(env.stdout, 1<<16)
	defer out.Flush()
	if *threads == 1 {
		return tokenizeLines(env.stdin, out, func(texts []string) ([][]int32, error) {
			ids := make([][]int32, len(texts))
			for i, s := range texts {
				ids[i] = tk.Encode(s, opts)
			}
			return ids, ctx.Err()
		}, 1)
	}
	cfg := tokenizer.DefaultParallelConfig()
	cfg.NumThreads = *threads
	pool, err := tokenizer.NewPool(tk, cfg, nil)
	if err != nil {
		return err
	}
	var g errgroup.Group
	g.Go(func() error { return pool.Run(ctx) })
	err = tokenizeLines(env.stdin, out, func(texts []string) ([][]int32, error) {
		return pool.EncodeBatch(ctx, texts, opts)
	}, tokenizeBatch)
	pool.Close()
	return errors.Join(err, g.Wait())
}

// tokenizeLines reads {"text"} lines, encodes them batch at a time with
// encode and writes {"ids"} lines in order. A bad line ends the run with an
// error naming it, after the lines before it were written.
func tokenizeLines(in io.Reader, out *bufio.Writer, encode func([]string) ([][]int32, error), batch int) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 1<<16), maxLineBytes)
	var texts []string
	flush := func() error {
		if len(texts) == 0 {
			return nil
		}
		ids, err := encode(texts)
		if err != nil {
			return err
		}
		var line []byte
		for _, row := range ids {
			line = appendIDsLine(line[:0], row)
			if _, err := out.Write(line); err != nil {
				return err
			}
		}
		texts = texts[:0]
		return nil
	}
	lineNo := 0
	for sc.Scan() {
		lineNo++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var rec struct {
			Text *string `json:"text"`
		}
		if err := json.Unmarshal(b, &rec); err != nil {
			return errors.Join(flush(), fmt.Errorf("line %d: %v", lineNo, err))
		}
		if rec.Text == nil {
			return errors.Join(flush(), fmt.Errorf("line %d: no \"text\" field", lineNo))
		}
		texts = append(texts, *rec.Text)
		if len(texts) >= batch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return errors.Join(flush(), fmt.Errorf("line %d: %w", lineNo+1, err))
	}
	return flush()
}

func appendIDsLine(b []byte, ids []int32) []byte {
	b = append(b, `{"ids":[`...)
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(id), 10)
	}
	return append(b, "]}\n"...)
}

func runDetokenize(ctx context.Context, env *cmdEnv, fs *flag.FlagSet, args []string) error {
	loadVocab := vocabFlag(fs)
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	tk, err := loadVocab()
	if err != nil {
		return err
	}
	out := bufio.NewWriterSize(env.stdout, 1<<16)
	defer out.Flush()
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	sc := bufio.NewScanner(env.stdin)
	sc.Buffer(make([]byte, 0, 1<<16), maxLineBytes)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		if err := ctx.Err(); err != nil {
			return err
		}
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var rec struct {
			IDs *[]int64 `json:"ids"`
		}
		if err := json.Unmarshal(b, &rec); err != nil {
			return fmt.Errorf("line %d: %v", lineNo, err)
		}
		if rec.IDs == nil {
			return fmt.Errorf("line %d: no \"ids\" field", lineNo)
		}
		ids := make([]int32, len(*rec.IDs))
		for i, id := range *rec.IDs {
			if id < 0 || id >= int64(tk.VocabSize()) {
				return fmt.Errorf("line %d: id %d out of range [0,%d)", lineNo, id, tk.VocabSize())
			}
			ids[i] = int32(id)
		}
		// Invalid UTF-8 (ids that spell a broken byte sequence) is written
		// as U+FFFD by the JSON encoder.
		if err := enc.Encode(struct {
			Text string `json:"text"`
		}{tk.Decode(ids)}); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("line %d: %w", lineNo+1, err)
	}
	return nil
}
