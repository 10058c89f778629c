package bus

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// ServerConfig configures the embedded nats-server.
type ServerConfig struct {
	// StoreDir holds JetStream data. Required: JetStream is always on.
	StoreDir string
	// Listen is an optional host:port for external clients (the nats CLI,
	// other processes). Empty means in-process connections only.
	Listen string
	// Name is the server name (defaults to "krserve").
	Name string
	// MaxPayload in bytes (0 = the NATS default, 1 MiB).
	MaxPayload int32
	// JetStreamMaxMemory and JetStreamMaxStore bound JetStream (0 = server defaults).
	JetStreamMaxMemory int64
	JetStreamMaxStore  int64
	// ReadyTimeout bounds the wait for the server to accept connections.
	ReadyTimeout time.Duration
	// Logs enables the server's own log output on stderr.
	Logs bool
}

// Validate reports a missing or inconsistent setting.
func (c *ServerConfig) Validate() error {
	if c.StoreDir == "" {
		return errors.New("bus: server store directory is required (JetStream is always on)")
	}
	if c.Listen != "" {
		if _, _, err := splitHostPort(c.Listen); err != nil {
			return fmt.Errorf("bus: listen address %q: %w", c.Listen, err)
		}
	}
	if c.MaxPayload < 0 {
		return fmt.Errorf("bus: max payload %d is negative", c.MaxPayload)
	}
	return nil
}

func splitHostPort(addr string) (string, int, error) {
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", ps)
	}
	return host, port, nil
}

// Server is an embedded nats-server with JetStream.
type Server struct {
	cfg   ServerConfig
	ns    *server.Server
	ready chan struct{}
}

// NewServer validates cfg and prepares a server; it starts nothing.
func NewServer(cfg ServerConfig) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Name == "" {
		cfg.Name = "krserve"
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = 10 * time.Second
	}
	opts := &server.Options{
		ServerName:         cfg.Name,
		JetStream:          true,
		StoreDir:           cfg.StoreDir,
		JetStreamMaxMemory: cfg.JetStreamMaxMemory,
		JetStreamMaxStore:  cfg.JetStreamMaxStore,
		NoSigs:             true,
		MaxPayload:         cfg.MaxPayload,
	}
	if cfg.Listen == "" {
		opts.DontListen = true
	} else {
		host, port, _ := splitHostPort(cfg.Listen)
		if port == 0 {
			port = server.RANDOM_PORT
		}
		opts.Host, opts.Port = host, port
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("bus: new server: %w", err)
	}
	if cfg.Logs {
		ns.ConfigureLogger()
	}
	return &Server{cfg: cfg, ns: ns, ready: make(chan struct{})}, nil
}

// Start starts the server and waits until it accepts connections.
func (s *Server) Start() error {
	go s.ns.Start()
	if !s.ns.ReadyForConnections(s.cfg.ReadyTimeout) {
		s.ns.Shutdown()
		return fmt.Errorf("bus: embedded server not ready within %v", s.cfg.ReadyTimeout)
	}
	close(s.ready)
	return nil
}

// Ready is closed once the server accepts connections.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Run starts the server, blocks until ctx is done, then shuts it down and
// waits for it.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Start(); err != nil {
		return err
	}
	<-ctx.Done()
	s.Shutdown()
	return nil
}

// Shutdown stops the server and waits for its goroutines to exit.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}

// ClientURL is the URL external clients use (only meaningful with Listen).
func (s *Server) ClientURL() string { return s.ns.ClientURL() }

// NATS exposes the underlying server (for monitoring and tests).
func (s *Server) NATS() *server.Server { return s.ns }

// Connect opens an in-process client connection (no TCP) with the standard
// krserve connection options.
func (s *Server) Connect(name string, deps ConnDeps, opts ...nats.Option) (*nats.Conn, error) {
	all := append(connOptions(name, deps), nats.InProcessServer(s.ns))
	all = append(all, opts...)
	nc, err := nats.Connect("", all...)
	if err != nil {
		return nil, fmt.Errorf("bus: in-process connect: %w", err)
	}
	return nc, nil
}
