package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ErrConfig means a Config value is invalid; the message names the field.
// Fix the configuration: nothing was started.
var ErrConfig = errors.New("gateway: invalid config")

// Defaults used when a Config field is zero.
const (
	DefaultMaxInflight     = 256
	DefaultMaxBodyBytes    = 2 << 20 // prompts are limited to 768 KiB; JSON escaping needs headroom
	DefaultShutdownTimeout = 30 * time.Second
	// OpenAITemperature is the temperature OpenAI applies when a request
	// names none.
	OpenAITemperature = 1.0
)

// Config holds the gateway's settings.
type Config struct {
	// Addr is the host:port Run listens on (port 0 = any free port).
	Addr string
	// ModelName is the served model's name: what GET /v1/models lists and
	// what requests must name (an empty "model" also selects it).
	ModelName string
	// APIKeys, when not empty, are the accepted bearer tokens
	// (Authorization: Bearer KEY); requests without one get 401.
	APIKeys []string
	// MaxInflight bounds concurrent generation requests; beyond it the
	// gateway answers 429 without queueing (0 = DefaultMaxInflight).
	MaxInflight int
	// MaxBodyBytes bounds a request body (0 = DefaultMaxBodyBytes); larger
	// bodies get 413.
	MaxBodyBytes int64
	// DefaultTemperature is used when a request omits temperature
	// (nil = OpenAITemperature; 0 = greedy).
	DefaultTemperature *float64
	// RequestTimeout, when positive, is the deadline of every generation
	// (sent to the pipeline as deadline_ms); a request past it gets 504.
	RequestTimeout time.Duration
	// ShutdownTimeout bounds how long Run waits for in-flight requests on
	// shutdown before closing their connections (0 = DefaultShutdownTimeout).
	ShutdownTimeout time.Duration
}

// Validate checks the settings.
func (c *Config) Validate() error {
	if c.Addr == "" {
		return fmt.Errorf("%w: Addr is empty", ErrConfig)
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("%w: Addr %q: %v", ErrConfig, c.Addr, err)
	}
	if c.ModelName == "" {
		return fmt.Errorf("%w: ModelName is empty", ErrConfig)
	}
	for i, k := range c.APIKeys {
		if k == "" {
			return fmt.Errorf("%w: API key %d is empty", ErrConfig, i)
		}
	}
	if c.MaxInflight < 0 || c.MaxBodyBytes < 0 || c.RequestTimeout < 0 || c.ShutdownTimeout < 0 {
		return fmt.Errorf("%w: MaxInflight, MaxBodyBytes, RequestTimeout and ShutdownTimeout must not be negative", ErrConfig)
	}
	if t := c.DefaultTemperature; t != nil && (math.IsNaN(*t) || *t < 0 || *t > 2) {
		return fmt.Errorf("%w: DefaultTemperature %v is outside [0, 2]", ErrConfig, *t)
	}
	return nil
}

func (c *Config) withDefaults() {
	if c.MaxInflight == 0 {
		c.MaxInflight = DefaultMaxInflight
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.DefaultTemperature == nil {
		t := OpenAITemperature
		c.DefaultTemperature = &t
	}
}

// Deps are the gateway's collaborators apart from the producer client.
type Deps struct {
	// Registerer receives the gateway's metrics (nil = not registered).
	Registerer prometheus.Registerer
	// Logger logs failures (nil = discarded).
	Logger *slog.Logger
	// Now is the clock of the "created" timestamps of responses (nil =
	// time.Now). Deadlines and latency metrics always use the wall clock,
	// which the pipeline shares.
	Now func() time.Time
}
