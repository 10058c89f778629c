package health

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "krserve_test_total", Help: "t"})
	reg.MustRegister(c)
	c.Add(3)
	s, err := New("127.0.0.1:0", reg)
	if err != nil {
		t.Fatal(err)
	}
	var draining atomic.Bool
	s.AddCheck("engine", func() error {
		if draining.Load() {
			return errors.New("draining")
		}
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	base := "http://" + s.Addr()
	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "krserve_test_total 3") {
		t.Errorf("/metrics %d %q", code, body)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz %d", code)
	}
	if code, _ := get("/readyz"); code != 200 {
		t.Errorf("/readyz %d", code)
	}
	draining.Store(true)
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "engine: draining") {
		t.Errorf("/readyz while draining: %d %q", code, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := New("nope", reg); err == nil {
		t.Error("bad address accepted")
	}
}
