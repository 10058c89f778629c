package testenv

import (
	"testing"

	"github.com/krserve/krserve/bus"
	"github.com/nats-io/nats.go"
)

// NATS starts an in-process nats-server with JetStream stored in a temporary
// directory and returns it with a connected client. Both are shut down by
// t.Cleanup.
func NATS(tb testing.TB) (*bus.Server, *nats.Conn) {
	tb.Helper()
	s, err := bus.NewServer(bus.ServerConfig{StoreDir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Shutdown)
	nc, err := s.Connect(tb.Name(), bus.ConnDeps{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	return s, nc
}

// Conn opens another in-process client to s, closed by t.Cleanup.
func Conn(tb testing.TB, s *bus.Server) *nats.Conn {
	tb.Helper()
	nc, err := s.Connect(tb.Name(), bus.ConnDeps{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	return nc
}
