package config

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/krserve/krserve/bus"
)

// EnvPrefix prefixes every environment variable.
const EnvPrefix = "KRSERVE_"

// Env holds the process settings read from KRSERVE_* variables. Command
// line flags, where a command has them, override these.
type Env struct {
	NATS          bus.ConnConfig `envPrefix:""`
	SubjectPrefix string         `env:"SUBJECT_PREFIX" envDefault:"krserve" doc:"first token of every subject"`
	RuntimeFile   string         `env:"RUNTIME_CONFIG" doc:"path of the runtime YAML file; empty = built-in defaults"`
	MetricsAddr   string         `env:"METRICS_ADDR" envDefault:"127.0.0.1:9464" doc:"address of /metrics, /healthz and /readyz; empty = off"`
	DataDir       string         `env:"DATA_DIR" doc:"embedded NATS store and model cache; empty = the user cache dir"`
	Model         string         `env:"MODEL" doc:"GGUF or llama2.c model path; empty = the synthesized default"`
	Tokenizer     string         `env:"TOKENIZER" doc:"vocabulary for a llama2.c checkpoint (tokenizer.bin)"`
	WorkerID      string         `env:"WORKER_ID" doc:"worker name; empty = role plus a random suffix"`
	Variant       string         `env:"VARIANT" envDefault:"baseline" doc:"engine variant this worker serves"`
	Threads       int            `env:"THREADS" doc:"engine compute threads; 0 = one per CPU"`
	LogLevel      string         `env:"LOG_LEVEL" envDefault:"info" doc:"debug, info, warn or error"`
	LogPrompts    bool           `env:"LOG_PROMPTS" doc:"include prompt text in debug logs (off: prompts never reach logs)"`
	DrainTimeout  time.Duration  `env:"DRAIN_TIMEOUT" envDefault:"30s" doc:"grace period for in-flight work on SIGTERM"`
}

// LoadEnv reads the KRSERVE_* variables from environ (nil = the process
// environment) and validates them.
func LoadEnv(environ map[string]string) (Env, error) {
	var e Env
	opts := env.Options{Prefix: EnvPrefix}
	if environ != nil {
		opts.Environment = environ
	}
	if err := env.ParseWithOptions(&e, opts); err != nil {
		return Env{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := e.Validate(); err != nil {
		return Env{}, err
	}
	return e, nil
}

// Validate checks the values that have a closed set or range.
func (e *Env) Validate() error {
	if err := bus.ValidatePrefix(e.SubjectPrefix); err != nil {
		return bad(EnvPrefix+"SUBJECT_PREFIX", e.SubjectPrefix, err.Error())
	}
	if _, err := e.SlogLevel(); err != nil {
		return err
	}
	if e.Threads < 0 || e.Threads > 1024 {
		return bad(EnvPrefix+"THREADS", e.Threads, "must be 0 to 1024")
	}
	if e.DrainTimeout < 0 {
		return bad(EnvPrefix+"DRAIN_TIMEOUT", e.DrainTimeout, "must not be negative")
	}
	for _, c := range e.Variant {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return bad(EnvPrefix+"VARIANT", e.Variant, "use lower-case letters, digits, - and _")
		}
	}
	if e.Variant == "" {
		return bad(EnvPrefix+"VARIANT", e.Variant, "must not be empty")
	}
	return nil
}

// SlogLevel parses LogLevel.
func (e *Env) SlogLevel() (slog.Level, error) {
	switch strings.ToLower(e.LogLevel) {
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, bad(EnvPrefix+"LOG_LEVEL", e.LogLevel, "want debug, info, warn or error")
}
