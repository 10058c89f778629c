package hardening_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/krserve/krserve/bus"
	"github.com/krserve/krserve/bus/client"
	"github.com/krserve/krserve/engined/jobs"
	"github.com/krserve/krserve/internal/testenv"
	"github.com/krserve/krserve/schemas"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// krserveBinary builds ./cmd/krserve once per test binary.
func krserveBinary(tb testing.TB) string {
	tb.Helper()
	root := testenv.RepoRoot(tb)
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "krserve-hardening-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "krserve")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/krserve")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		tb.Fatal(binErr)
	}
	return binPath
}

// tcpNATS starts a nats-server with JetStream on a loopback TCP port.
func tcpNATS(tb testing.TB) *bus.Server {
	tb.Helper()
	srv, err := bus.NewServer(bus.ServerConfig{StoreDir: tb.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		tb.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(srv.Shutdown)
	// Engine processes pull batch jobs: the queue must exist first.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js, err := jetstream.New(testenv.Conn(tb, srv))
	if err != nil {
		tb.Fatal(err)
	}
	// A short ack wait so a job held by a killed engine returns soon.
	if _, err := jobs.Setup(ctx, js, jobs.Config{AckWait: 2 * time.Second, MaxDeliver: 20}); err != nil {
		tb.Fatal(err)
	}
	return srv
}

// proc is one worker process.
type proc struct {
	role, id string
	cmd      *exec.Cmd
	started  time.Time
	done     chan struct{}
	err      error // Wait's result, set before done closes
	logPath  string
}

// startWorker runs `krserve tokenizerd|engined` against url.
func startWorker(tb testing.TB, url, role, id string, extraEnv ...string) *proc {
	tb.Helper()
	sub := map[string]string{"tokenizer": "tokenizerd", "engine": "engined"}[role]
	logPath := filepath.Join(tb.TempDir(), role+"-"+id+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(krserveBinary(tb), sub, "--nats", url, "--model", testenv.SharedFile(tb, "models/stories260K.gguf"),
		"--worker-id", id, "--threads", "1", "--metrics", "")
	cmd.Env = append(os.Environ(), append([]string{"KRSERVE_DRAIN_TIMEOUT=20s", "KRSERVE_LOG_LEVEL=debug"}, extraEnv...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	p := &proc{role: role, id: id, cmd: cmd, done: make(chan struct{}), logPath: logPath}
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		logf.Close()
		tb.Fatal(err)
	}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	tb.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// stop sends SIGTERM and waits up to d for the process to exit.
func (p *proc) stop(tb testing.TB, d time.Duration) error {
	tb.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		return fmt.Errorf("%s %s did not exit within %v after SIGTERM", p.role, p.id, d)
	}
}

func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

func (p *proc) log() string {
	b, _ := os.ReadFile(p.logPath)
	if len(b) > 8000 {
		b = b[len(b)-8000:]
	}
	return string(b)
}

// heartbeats records the latest heartbeat of every worker.
type heartbeats struct {
	mu   sync.Mutex
	last map[string]schemas.Heartbeat // role/worker → heartbeat
	at   map[string]time.Time
}

func watchHeartbeats(tb testing.TB, nc *nats.Conn) *heartbeats {
	tb.Helper()
	h := &heartbeats{last: map[string]schemas.Heartbeat{}, at: map[string]time.Time{}}
	sub, err := nc.Subscribe(bus.Subjects{}.Heartbeat("*", "*"), func(m *nats.Msg) {
		var hb schemas.Heartbeat
		if schemas.Decode(m.Data, &hb) != nil {
			return
		}
		h.mu.Lock()
		h.last[hb.Role+"/"+hb.Worker] = hb
		h.at[hb.Role+"/"+hb.Worker] = time.Now()
		h.mu.Unlock()
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = sub.Unsubscribe() })
	return h
}

// readySince reports whether worker sent a ready heartbeat after t.
func (h *heartbeats) readySince(role, worker string, t time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	hb, ok := h.last[role+"/"+worker]
	return ok && hb.State == schemas.StateReady && h.at[role+"/"+worker].After(t)
}

// waitReady waits until p heart-beats ready; for engines also until every
// tokenizer has had the time of one heartbeat to learn it (the test's own
// subscription sees the same heartbeat at the same moment).
func (h *heartbeats) waitReady(tb testing.TB, p *proc) {
	tb.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !h.readySince(p.role, p.id, p.started) {
		select {
		case <-p.done:
			tb.Fatalf("%s %s exited before it was ready: %v\n%s", p.role, p.id, p.err, p.log())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s %s sent no ready heartbeat within 60s\n%s", p.role, p.id, p.log())
		}
	}
}

// load runs closed request loops until stop is closed and counts outcomes.
type load struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	errs       []string
	wg         sync.WaitGroup
	stop       chan struct{}
}

// requestFn sends one request; the loop counts its error.
type requestFn func(ctx context.Context, loop, i int) error

func startLoad(loops int, fn requestFn) *load {
	l := &load{stop: make(chan struct{})}
	for g := 0; g < loops; g++ {
		l.wg.Add(1)
		go func(g int) {
			defer l.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				if err := fn(context.Background(), g, i); err != nil {
					l.failed.Add(1)
					l.mu.Lock()
					if len(l.errs) < 20 {
						l.errs = append(l.errs, fmt.Sprintf("%s loop %d req %d: %v", time.Now().Format("15:04:05.000"), g, i, err))
					}
					l.mu.Unlock()
				} else {
					l.ok.Add(1)
				}
			}
		}(g)
	}
	return l
}

func (l *load) finish() { close(l.stop); l.wg.Wait() }

// completeFn sends a short generation and checks it ended with a final.
func completeFn(cl *client.Client, maxTokens int32) requestFn {
	return func(ctx context.Context, g, i int) error {
		got, err := cl.Complete(ctx, &schemas.GenerateRequest{Prompt: fmt.Sprintf("Once upon a time %d %d", g, i%5),
			ConversationID: fmt.Sprintf("conv-%d-%d", g, i%3), MaxTokens: maxTokens})
		if err != nil {
			return err
		}
		if got.Final == nil || got.Final.Usage.GeneratedTokens == 0 {
			return errors.New("no tokens")
		}
		return nil
	}
}

// waitProgress waits until the load has completed n more requests.
func (l *load) waitProgress(tb testing.TB, n int64, d time.Duration) {
	tb.Helper()
	want := l.ok.Load() + n
	waitFor(tb, d, fmt.Sprintf("%d more completed requests", n), func() bool { return l.ok.Load() >= want })
}
