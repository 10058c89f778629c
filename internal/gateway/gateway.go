package gateway

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/krserve/krserve/bus/client"
)

// Gateway serves the OpenAI-compatible API over a producer client.
type Gateway struct {
	cfg     Config
	client  *client.Client
	deps    Deps
	log     *slog.Logger
	slots   chan struct{}
	metrics *metrics
	created int64 // "created" of the model in /v1/models
	handler http.Handler

	mu        sync.Mutex
	addr      string
	ready     chan struct{}
	readyOnce sync.Once
}

// New validates cfg and builds a gateway on c. It starts nothing.
func New(cfg Config, c *client.Client, deps Deps) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if c == nil {
		return nil, fmt.Errorf("%w: the producer client is required", ErrConfig)
	}
	cfg.withDefaults()
	cfg.APIKeys = append([]string(nil), cfg.APIKeys...)
	if deps.Now == nil {
		deps.Now = time.Now
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(deps.Registerer)
	if err != nil {
		return nil, err
	}
	g := &Gateway{cfg: cfg, client: c, deps: deps, log: log, slots: make(chan struct{}, cfg.MaxInflight), metrics: m,
		created: deps.Now().Unix(), ready: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/chat/completions", g.only(http.MethodPost, g.auth(func(w http.ResponseWriter, r *http.Request) { g.generate(w, r, endpointChat) })))
	mux.HandleFunc("/v1/completions", g.only(http.MethodPost, g.auth(func(w http.ResponseWriter, r *http.Request) { g.generate(w, r, endpointText) })))
	mux.HandleFunc("/v1/models", g.only(http.MethodGet, g.auth(g.models)))
	mux.HandleFunc("/v1/models/{model}", g.only(http.MethodGet, g.auth(g.model)))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &apiError{Status: http.StatusNotFound, Type: typeInvalidRequest, Code: strp("unknown_url"),
			Message: fmt.Sprintf("Unknown request URL: %s %s. Try POST /v1/chat/completions, POST /v1/completions or GET /v1/models.", r.Method, r.URL.Path)})
	})
	g.handler = mux
	return g, nil
}

// Handler is the HTTP handler (for embedding in another server or httptest).
func (g *Gateway) Handler() http.Handler { return g.handler }

// Run listens on Config.Addr and serves until ctx ends; see Serve.
func (g *Gateway) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", g.cfg.Addr)
	if err != nil {
		return fmt.Errorf("gateway: listen %s: %w", g.cfg.Addr, err)
	}
	return g.Serve(ctx, ln)
}

// Serve serves HTTP on ln until ctx ends, then shuts down gracefully: new
// connections are refused, in-flight requests get Config.ShutdownTimeout to
// finish, and connections still open after that are closed (which cancels
// their generations). It returns nil after a shutdown caused by ctx.
func (g *Gateway) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: g.handler, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(g.log.Handler(), slog.LevelWarn)}
	g.mu.Lock()
	g.addr = ln.Addr().String()
	g.mu.Unlock()
	g.readyOnce.Do(func() { close(g.ready) })
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("gateway: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), g.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		g.log.Warn("gateway: requests still running at the shutdown timeout; closing them", "timeout", g.cfg.ShutdownTimeout)
		_ = srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("gateway: serve: %w", err)
	}
	return nil
}

// Ready is closed once Serve has its listener. Run or Serve a Gateway once.
func (g *Gateway) Ready() <-chan struct{} { return g.ready }

// Addr is the address Serve listens on (empty before Ready).
func (g *Gateway) Addr() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.addr
}

// Inflight is the number of generation requests being served.
func (g *Gateway) Inflight() int { return len(g.slots) }

func (g *Gateway) only(method string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method {
			w.Header().Set("Allow", method)
			writeError(w, &apiError{Status: http.StatusMethodNotAllowed, Type: typeInvalidRequest, Code: strp("method_not_allowed"),
				Message: fmt.Sprintf("%s %s is not supported; use %s", r.Method, r.URL.Path, method)})
			return
		}
		h(w, r)
	}
}

func (g *Gateway) auth(h http.HandlerFunc) http.HandlerFunc {
	if len(g.cfg.APIKeys) == 0 {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if ok && g.validKey(strings.TrimSpace(key)) {
			h(w, r)
			return
		}
		g.metrics.requests.WithLabelValues(endpointOf(r.URL.Path), "401").Inc()
		msg := "Missing API key: send it as Authorization: Bearer KEY."
		if ok {
			msg = "Incorrect API key provided."
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="krserve"`)
		writeError(w, &apiError{Status: http.StatusUnauthorized, Type: typeAuthentication, Code: strp("invalid_api_key"), Message: msg})
	}
}

// validKey compares against every key in constant time.
func (g *Gateway) validKey(k string) bool {
	match := 0
	for _, want := range g.cfg.APIKeys {
		match |= subtle.ConstantTimeCompare([]byte(k), []byte(want))
	}
	return match == 1
}

func (g *Gateway) models(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, modelList{Object: "list", Data: []modelJSON{g.modelJSON()}})
}

func (g *Gateway) model(w http.ResponseWriter, r *http.Request) {
	if name := r.PathValue("model"); name != g.cfg.ModelName {
		writeError(w, modelNotFound(name))
		return
	}
	writeJSON(w, http.StatusOK, g.modelJSON())
}

func (g *Gateway) modelJSON() modelJSON {
	return modelJSON{ID: g.cfg.ModelName, Object: "model", Created: g.created, OwnedBy: "krserve"}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// admit takes an in-flight slot without waiting.
func (g *Gateway) admit() (release func(), ok bool) {
	select {
	case g.slots <- struct{}{}:
		g.metrics.inflight.Inc()
		return func() { <-g.slots; g.metrics.inflight.Dec() }, true
	default:
		return nil, false
	}
}

// readBody reads a bounded request body.
func (g *Gateway) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *apiError) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, g.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &apiError{Status: http.StatusRequestEntityTooLarge, Type: typeInvalidRequest, Code: strp("request_too_large"),
				Message: fmt.Sprintf("request body exceeds %d bytes", mbe.Limit)}
		}
		return nil, badRequest("", "reading the request body: %v", err)
	}
	return body, nil
}

func newRequestID() string { return uuid.NewString() }
