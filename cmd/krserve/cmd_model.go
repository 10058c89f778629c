package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/krserve/krserve/engined/gguf"
	"github.com/krserve/krserve/engined/synth"
)

func init() {
	register(&command{
		name:    "model",
		summary: "inspect a GGUF file or synthesize a random-weight model (synth, inspect)",
		usage:   "synth --preset NAME --type f32|f16|q8_0 --vocab SRC -o FILE | inspect FILE [--json]",
		run: func(ctx context.Context, env *cmdEnv, fs *flag.FlagSet, args []string) error {
			if len(args) == 0 {
				return fmt.Errorf("%w: name a subcommand: synth or inspect", errUsage)
			}
			sub := flag.NewFlagSet("krserve model "+args[0], flag.ContinueOnError)
			sub.SetOutput(env.stderr)
			switch args[0] {
			case "synth":
				return runModelSynth(env, sub, args[1:])
			case "inspect":
				return runModelInspect(env, sub, args[1:])
			}
			return fmt.Errorf("%w: unknown model subcommand %q (synth or inspect)", errUsage, args[0])
		},
	})
}

func runModelSynth(env *cmdEnv, fs *flag.FlagSet, args []string) error {
	preset := fs.String("preset", "default", "model shape: "+strings.Join(synth.PresetNames(), ", "))
	typ := fs.String("type", "q8_0", "weight type: f32, f16, bf16, q8_0, q4_0, q4_k")
	vocab := fs.String("vocab", "", "GGUF file whose tokenizer.* metadata is copied (e.g. ggml-vocab-llama-spm.gguf); required")
	seed := fs.Uint64("seed", 1, "random seed of the weights")
	out := fs.String("o", "", "output GGUF file (required)")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	if *out == "" || *vocab == "" {
		return fmt.Errorf("%w: -o and --vocab are required", errUsage)
	}
	p, err := synth.LookupPreset(*preset)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	t, err := synth.ParseType(*typ)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	cfg := synth.Config{Preset: p, Type: t, VocabSource: *vocab, Seed: *seed}
	if !*quiet {
		cfg.Progress = env.stderr
	}
	if err := synth.WriteFile(*out, cfg); err != nil {
		return err
	}
	fmt.Fprintf(env.stderr, "wrote %s (%s, %s, random weights)\n", *out, p.Name, t)
	return nil
}

// inspectKV is one metadata entry of `model inspect --json`.
type inspectKV struct {
	Key   string `json:"key"`
	Type  string `json:"type"`
	Value any    `json:"value"`
}

type inspectTensor struct {
	Name   string   `json:"name"`
	Type   string   `json:"type"`
	Dims   []uint64 `json:"dims"`
	Bytes  int64    `json:"bytes"`
	Offset uint64   `json:"offset"`
}

type inspectOut struct {
	Version  uint32          `json:"version"`
	Metadata []inspectKV     `json:"metadata"`
	Tensors  []inspectTensor `json:"tensors"`
	Params   uint64          `json:"parameters"`
	Bytes    int64           `json:"tensor_bytes"`
}

// arrayPreview is how long arrays are summarized.
const arrayPreview = 8

func summarize(v gguf.Value) (string, any) {
	if v.Type != gguf.TypeArray {
		return v.Type.String(), v.Data
	}
	n := v.Len()
	typ := fmt.Sprintf("array[%s; %d]", v.Elem, n)
	if n <= arrayPreview {
		return typ, v.Data
	}
	var head []any
	switch x := v.Data.(type) {
	case []string:
		for _, s := range x[:arrayPreview] {
			head = append(head, s)
		}
	case []float32:
		for _, f := range x[:arrayPreview] {
			head = append(head, f)
		}
	case []int32:
		for _, f := range x[:arrayPreview] {
			head = append(head, f)
		}
	default:
		return typ, fmt.Sprintf("[%d values]", n)
	}
	return typ, map[string]any{"first": head, "count": n}
}

func runModelInspect(env *cmdEnv, fs *flag.FlagSet, args []string) error {
	asJSON := fs.Bool("json", false, "print JSON")
	// Accept the file before or after the flags.
	var path string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		path, args = args[0], args[1:]
	}
	if err := parseFlags(fs, args, true); err != nil {
		return err
	}
	if path == "" && fs.NArg() == 1 {
		path = fs.Arg(0)
	} else if path == "" || fs.NArg() > 0 {
		return fmt.Errorf("%w: name one GGUF file", errUsage)
	}
	f, err := gguf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	o := inspectOut{Version: f.Version}
	for _, kv := range f.Metadata {
		typ, val := summarize(kv.Value)
		o.Metadata = append(o.Metadata, inspectKV{Key: kv.Key, Type: typ, Value: val})
	}
	for _, t := range f.Tensors {
		o.Tensors = append(o.Tensors, inspectTensor{Name: t.Name, Type: gguf.TypeName(t.Type), Dims: t.Dims, Bytes: t.Size, Offset: t.Offset})
		o.Params += t.Elements()
		o.Bytes += t.Size
	}
	if *asJSON {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(o)
	}
	return printInspect(env.stdout, path, o)
}

func printInspect(w io.Writer, path string, o inspectOut) error {
	fmt.Fprintf(w, "%s: GGUF v%d, %d metadata keys, %d tensors, %d parameters, %.1f MiB of tensor data\n\n",
		path, o.Version, len(o.Metadata), len(o.Tensors), o.Params, float64(o.Bytes)/(1<<20))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tTYPE\tVALUE")
	for _, kv := range o.Metadata {
		val := kv.Value
		if m, ok := val.(map[string]any); ok {
			parts := make([]string, 0, arrayPreview)
			for _, e := range m["first"].([]any) {
				if s, ok := e.(string); ok {
					parts = append(parts, strconv.Quote(s))
				} else {
					parts = append(parts, fmt.Sprint(e))
				}
			}
			val = fmt.Sprintf("[%s …] (%d)", strings.Join(parts, " "), m["count"])
		} else if s, ok := val.(string); ok {
			val = fmt.Sprintf("%q", s)
		}
		fmt.Fprintf(tw, "%s\t%s\t%v\n", kv.Key, kv.Type, val)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TENSOR\tTYPE\tDIMS\tBYTES\tOFFSET")
	for _, t := range o.Tensors {
		fmt.Fprintf(tw, "%s\t%s\t%v\t%d\t%d\n", t.Name, t.Type, t.Dims, t.Bytes, t.Offset)
	}
	return tw.Flush()
}
