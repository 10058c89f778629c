package health

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check reports nil when its part of the process is ready.
type Check func() error

// Server serves /metrics, /healthz and /readyz.
type Server struct {
	addr     string
	gatherer prometheus.Gatherer
	mu       sync.RWMutex
	checks   map[string]Check
	ln       net.Listener
	ready    chan struct{}
}

// New returns a server for addr (host:port; port 0 picks a free port).
func New(addr string, g prometheus.Gatherer) (*Server, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("health: address %q: %w", addr, err)
	}
	if g == nil {
		return nil, errors.New("health: a prometheus.Gatherer is required")
	}
	return &Server{addr: addr, gatherer: g, checks: map[string]Check{}, ready: make(chan struct{})}, nil
}

// AddCheck registers a readiness check under name.
func (s *Server) AddCheck(name string, c Check) {
	s.mu.Lock()
	s.checks[name] = c
	s.mu.Unlock()
}

// Addr is the bound address once Run has started listening.
func (s *Server) Addr() string {
	<-s.ready
	return s.ln.Addr().String()
}

// Handler returns the HTTP handler (for tests and embedding).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if failed := s.failing(); len(failed) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, strings.Join(failed, "\n"))
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}

func (s *Server) failing() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []string
	for name, c := range s.checks {
		if err := c(); err != nil {
			out = append(out, name+": "+err.Error())
		}
	}
	sort.Strings(out)
	return out
}

// Run listens and serves until ctx is done, then shuts down gracefully.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		close(s.ready)
		return fmt.Errorf("health: listen %s: %w", s.addr, err)
	}
	s.ln = ln
	close(s.ready)
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-errc
		return nil
	case err := <-errc:
		return fmt.Errorf("health: serve: %w", err)
	}
}
