package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"

	"github.com/krserve/krserve/config"
	"github.com/krserve/krserve/engined/synth"
)

// roleFlags are the flags shared by up, tokenizerd and engined.
type roleFlags struct {
	model     string
	tokenizer string
	vocab     string
	runtime   string
	threads   int
	backend   string
	dataDir   string
	metrics   string
	variant   string
	workerID  string
}

func (f *roleFlags) register(fs *flag.FlagSet, e config.Env) {
	fs.StringVar(&f.model, "model", e.Model, "GGUF or llama2.c model file (default: a synthesized model, see --vocab; its text is meaningless)")
	fs.StringVar(&f.tokenizer, "tokenizer", e.Tokenizer, "vocabulary of a llama2.c checkpoint (tokenizer.bin)")
	fs.StringVar(&f.vocab, "vocab", os.Getenv("KRSERVE_VOCAB"), "GGUF vocabulary the default model is synthesized with (default: ../shared/vocab/ggml-vocab-llama-spm.gguf when present)")
	fs.StringVar(&f.runtime, "runtime", e.RuntimeFile, "runtime YAML file with the feature flags (default: built-in defaults = config/runtime.yaml)")
	fs.IntVar(&f.threads, "threads", e.Threads, "compute threads per engine (0 = one per CPU divided among the engines)")
	fs.StringVar(&f.backend, "backend", "native", "engine backend: native (C kernels) or reference (pure Go)")
	fs.StringVar(&f.dataDir, "data-dir", e.DataDir, "directory for the JetStream store and the model cache (default: the user cache dir)")
	fs.StringVar(&f.metrics, "metrics", e.MetricsAddr, "address of /metrics, /healthz and /readyz (empty = off)")
	fs.StringVar(&f.variant, "variant", e.Variant, "engine variant this process serves")
	fs.StringVar(&f.workerID, "worker-id", e.WorkerID, "worker id (default: role and host-unique suffix)")
}

func (f *roleFlags) loadRuntime() (config.Runtime, error) {
	if f.runtime == "" {
		return config.DefaultRuntime(), nil
	}
	return config.LoadRuntime(f.runtime)
}

func (f *roleFlags) resolveDataDir() (string, error) {
	if f.dataDir != "" {
		return f.dataDir, nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no data dir: %w (set --data-dir)", err)
	}
	return filepath.Join(cache, "krserve"), nil
}

// resolveModel returns the model to serve, synthesizing the default model
// into the cache on first use.
func (f *roleFlags) resolveModel(log *slog.Logger) (string, error) {
	if f.model != "" {
		return f.model, nil
	}
	vocab := f.vocab
	if vocab == "" {
		for _, c := range []string{"../shared/vocab/ggml-vocab-llama-spm.gguf", "shared/vocab/ggml-vocab-llama-spm.gguf"} {
			if _, err := os.Stat(c); err == nil {
				vocab = c
				break
			}
		}
	}
	if vocab == "" {
		return "", fmt.Errorf("no model: pass --model PATH.gguf, or --vocab VOCAB.gguf to synthesize the default model with that vocabulary")
	}
	dir, err := f.resolveDataDir()
	if err != nil {
		return "", err
	}
	log.Info("using the synthesized default model (random weights: its text is meaningless; point --model at a real GGUF)", "vocab", vocab)
	return synth.EnsureDefault(filepath.Join(dir, "models"), vocab)
}

func (f *roleFlags) threadsPer(engines int) int {
	if f.threads > 0 {
		return f.threads
	}
	return max(1, runtime.NumCPU()/max(1, engines))
}

func newLogger(env *cmdEnv, e config.Env) *slog.Logger {
	lvl, _ := e.SlogLevel()
	return slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: lvl}))
}
