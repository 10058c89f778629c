package llama

import (
	"fmt"
	"io"
	"os"

	"github.com/krserve/krserve/engined/kernels"
	"github.com/krserve/krserve/native"
)

// Backend names accepted by WithBackend.
const (
	BackendNative    = "native"
	BackendReference = "reference"
)

type options struct {
	backend string
	threads int
	kernels kernels.Backend
}

// Option configures Load. Options validate their arguments and fail Load
// with ErrConfig.
type Option func(*options) error

// WithBackend selects the kernels: "native" (C kernels, threads >= 1) or
// "reference" (plain Go, single-threaded, for checking). The default is
// native with one thread.
func WithBackend(name string, threads int) Option {
	return func(o *options) error {
		if name != BackendNative && name != BackendReference {
			return fmt.Errorf("%w: backend %q (want %s or %s)", ErrConfig, name, BackendNative, BackendReference)
		}
		if threads < 1 || threads > 256 {
			return fmt.Errorf("%w: threads %d must be in 1..256", ErrConfig, threads)
		}
		o.backend, o.threads = name, threads
		return nil
	}
}

// WithKernels makes the model use b, which the caller owns: Model.Close does
// not close it.
func WithKernels(b kernels.Backend) Option {
	return func(o *options) error {
		if b == nil {
			return fmt.Errorf("%w: nil kernels backend", ErrConfig)
		}
		o.kernels = b
		return nil
	}
}

type layer struct {
	attnNorm, ffnNorm []float32
	wq, wk, wv, wo    kernels.Weights
	gate, down, up    kernels.Weights
}

// Model is a loaded Llama model: hyper-parameters, weights (borrowed from the
// mapped file where possible) and the kernels backend. Forward may be called
// by one goroutine at a time (the backend is single-caller); weights are
// read-only, so several Models over one file are independent.
type Model struct {
	cfg     Config
	be      kernels.Backend
	ownBE   bool
	file    io.Closer // mapping that backs the weights, if any
	format  string    // "gguf", "llama2c" or "llama2c-q8"
	tokEmb  kernels.Weights
	outNorm []float32
	output  kernels.Weights
	tied    bool
	layers  []layer
}

// Config returns the model's hyper-parameters.
func (m *Model) Config() Config { return m.cfg }

// Backend returns the kernels backend the model computes with.
func (m *Model) Backend() kernels.Backend { return m.be }

// Format names the file format the model came from: "gguf", "llama2c" or
// "llama2c-q8".
func (m *Model) Format() string { return m.format }

// Tied reports whether the output projection is the token embedding.
func (m *Model) Tied() bool { return m.tied }

// WeightType returns the type of the attention query weights, which is the
// model's main weight type.
func (m *Model) WeightType() kernels.DType { return m.layers[0].wq.Type }

// Close releases the backend (when the model created it) and the file
// mapping. The model must not be used afterwards.
func (m *Model) Close() error {
	var err error
	if m.ownBE && m.be != nil {
		err = m.be.Close()
	}
	m.be = nil
	if m.file != nil {
		if e := m.file.Close(); err == nil {
			err = e
		}
		m.file = nil
	}
	return err
}

// Load opens a model file: GGUF (by its magic) or a llama2.c checkpoint
// (legacy version 0, or the int8 "ak42" version 2, which is dequantized to
// F32 at load).
func Load(path string, opts ...Option) (*Model, error) {
	o := options{backend: BackendNative, threads: 1}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	magic := make([]byte, 4)
	fd, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("llama: %w", err)
	}
	_, err = io.ReadFull(fd, magic)
	fd.Close()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrFormat, path, err)
	}
	var m *Model
	if string(magic) == "GGUF" {
		m, err = loadGGUF(path)
	} else {
		m, err = loadLlama2C(path)
	}
	if err != nil {
		return nil, err
	}
	if err := m.attach(o); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

func (m *Model) attach(o options) error {
	if o.kernels != nil {
		m.be = o.kernels
		return nil
	}
	m.ownBE = true
	if o.backend == BackendReference {
		m.be = kernels.NewReference()
		return nil
	}
	be, err := native.NewBackend(o.threads)
	if err != nil {
		return fmt.Errorf("llama: native backend: %w", err)
	}
	m.be = be
	return nil
}

// check validates the assembled model: config, then every weight's shape
// and byte length against it.
func (m *Model) check() error {
	c := m.cfg
	if err := c.Validate(); err != nil {
		return err
	}
	if len(m.layers) != c.NLayers {
		return fmt.Errorf("%w: %d layers loaded, config says %d", ErrFormat, len(m.layers), c.NLayers)
	}
	want := func(name string, w kernels.Weights, rows, cols int) error {
		if w.Rows != rows || w.Cols != cols {
			return fmt.Errorf("%w: %s is %dx%d, want %dx%d", ErrFormat, name, w.Rows, w.Cols, rows, cols)
		}
		if !w.Type.Known() {
			return fmt.Errorf("%w: %s has tensor type %v", ErrUnsupported, name, w.Type)
		}
		if err := w.Validate(); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrFormat, name, err)
		}
		return nil
	}
	vec := func(name string, v []float32, n int) error {
		if len(v) != n {
			return fmt.Errorf("%w: %s has %d values, want %d", ErrFormat, name, len(v), n)
		}
		return nil
	}
	if err := want("token_embd", m.tokEmb, c.Vocab, c.Dim); err != nil {
		return err
	}
	if err := want("output", m.output, c.Vocab, c.Dim); err != nil {
		return err
	}
	if err := vec("output_norm", m.outNorm, c.Dim); err != nil {
		return err
	}
	for i, l := range m.layers {
		p := fmt.Sprintf("blk.%d.", i)
		for _, e := range []error{
			vec(p+"attn_norm", l.attnNorm, c.Dim), vec(p+"ffn_norm", l.ffnNorm, c.Dim),
			want(p+"attn_q", l.wq, c.QDim(), c.Dim), want(p+"attn_k", l.wk, c.KVDim(), c.Dim),
			want(p+"attn_v", l.wv, c.KVDim(), c.Dim), want(p+"attn_output", l.wo, c.Dim, c.QDim()),
			want(p+"ffn_gate", l.gate, c.HiddenDim, c.Dim), want(p+"ffn_up", l.up, c.HiddenDim, c.Dim),
			want(p+"ffn_down", l.down, c.Dim, c.HiddenDim),
		} {
			if e != nil {
				return e
			}
		}
	}
	return nil
}
