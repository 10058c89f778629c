package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/krserve/krserve/bus"
	"github.com/krserve/krserve/bus/client"
	"github.com/krserve/krserve/config"
	"github.com/krserve/krserve/internal/stack"
	"github.com/krserve/krserve/internal/testenv"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

const modelName = "stories260k"

// fixedNow is the injected clock of every test gateway.
var fixedNow = time.Unix(1700000000, 0)

type harnessOpts struct {
	listen   bool    // NATS on a TCP port (for processes outside the test)
	noStack  bool    // NATS without any worker
	slowdown float64 // engine fault knob: stretch each decode step
	cfg      func(*Config)
}

// harness is a real pipeline (tokenizer + engine on stories260K over an
// in-process NATS) with a gateway in front of it on an httptest server.
type harness struct {
	nats     *bus.Server
	nc       *nats.Conn
	st       *stack.Stack
	stackReg *prometheus.Registry
	gwReg    *prometheus.Registry
	client   *client.Client
	gw       *Gateway
	http     *httptest.Server
}

func newHarness(t *testing.T, o harnessOpts) *harness {
	t.Helper()
	h := &harness{stackReg: prometheus.NewRegistry(), gwReg: prometheus.NewRegistry()}
	if o.listen {
		srv, err := bus.NewServer(bus.ServerConfig{StoreDir: t.TempDir(), Listen: "127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Shutdown)
		h.nats, h.nc = srv, testenv.Conn(t, srv)
	} else {
		h.nats, h.nc = testenv.NATS(t)
	}
	if !o.noStack {
		st, err := stack.Start(stack.Config{
			Model: testenv.SharedFile(t, "models/stories260K.gguf"), ModelName: modelName,
			Engines: []stack.EngineSpec{{ID: "e1", Variant: "baseline", Slowdown: o.slowdown}}, Tokenizers: 1, Runtime: config.DefaultRuntime(),
			Heartbeat: 100 * time.Millisecond, Metrics: 200 * time.Millisecond, Drain: 5 * time.Second,
			Connect: func(name string) (*nats.Conn, error) { return h.nats.Connect(name, bus.ConnDeps{}) },
		}, h.stackReg, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := st.Stop(); err != nil {
				t.Error(err)
			}
		})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := st.WaitReady(ctx, map[string]int{"baseline": 1}); err != nil {
			t.Fatal(err)
		}
		h.st = st
	}
	h.client = client.New(h.nc, client.Options{IdleTimeout: 20 * time.Second})
	cfg := Config{Addr: "127.0.0.1:0", ModelName: modelName}
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	gw, err := New(cfg, h.client, Deps{Registerer: h.gwReg, Now: func() time.Time { return fixedNow }})
	if err != nil {
		t.Fatal(err)
	}
	h.gw = gw
	h.http = httptest.NewServer(gw.Handler())
	t.Cleanup(h.http.Close)
	return h
}

// post sends a JSON body and returns the response (closed by t.Cleanup).
func (h *harness) post(t *testing.T, path string, body any, header ...string) *http.Response {
	t.Helper()
	return h.do(t, context.Background(), http.MethodPost, path, body, header...)
}

func (h *harness) do(t *testing.T, ctx context.Context, method, path string, body any, header ...string) *http.Response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		js, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequestWithContext(ctx, method, h.http.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := h.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// decode reads a JSON response body, failing on a status other than want.
func decode[T any](t *testing.T, resp *http.Response, want int) T {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != want {
		t.Fatalf("status %d, want %d: %s", resp.StatusCode, want, b)
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %T: %v\n%s", v, err, b)
	}
	return v
}

// events reads an SSE body: the data of every event, in order.
func events(t *testing.T, r io.Reader) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			t.Fatalf("not an SSE data line: %q", line)
		}
		out = append(out, data)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// metric sums the samples of a counter or gauge family in reg.
func metric(t *testing.T, reg prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if !hasLabels(m, labels) {
				continue
			}
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			case m.Histogram != nil:
				sum += float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return sum
}

func hasLabels(m *dto.Metric, kv []string) bool {
	for i := 0; i+1 < len(kv); i += 2 {
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == kv[i] && l.GetValue() == kv[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
	}
}
