// Package config loads krserve's settings: process settings from KRSERVE_*
// environment variables (Env, through caarlos0/env) and the runtime feature
// flags of the optimizations from a YAML file (Runtime, config/runtime.yaml).
//
// Both are validated at start: every error names the offending key and
// value, wraps ErrInvalid, and the process refuses to start. Unknown YAML
// keys are errors too, so a typo cannot silently leave a default in force.
//
// Runtime flags can be overridden live through the control KV bucket; the
// values here are the defaults a worker starts with. Config values are plain
// data: copy them freely, they hold no goroutines or handles.
package config
