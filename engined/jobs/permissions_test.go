package jobs

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/krserve/krserve/bus"
	"github.com/krserve/krserve/internal/testenv"
	"github.com/krserve/krserve/schemas"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestQueueWithinDeployPermissions runs the job flow as the users of
// deploy/nats/permissions.conf: the controller sets the queue up, a
// producer submits and reads results, an engine consumes, stores and
// dead-letters, an operator asks for status. Any denial fails the test.
func TestQueueWithinDeployPermissions(t *testing.T) {
	roles := []string{"producer", "consumer", "tokenizer", "engine", "controller", "operator"}
	for _, r := range roles {
		t.Setenv("KRSERVE_NATS_"+strings.ToUpper(r)+"_PASSWORD", "pw-"+r)
	}
	opts, err := server.ProcessConfigFile(testenv.RepoRoot(t) + "/deploy/nats/krserve-auth.conf")
	if err != nil {
		t.Fatal(err)
	}
	opts.Host, opts.Port = "127.0.0.1", server.RANDOM_PORT
	opts.HTTPHost, opts.HTTPPort = "", 0
	opts.StoreDir = t.TempDir()
	opts.NoSigs, opts.NoLog = true, true
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })

	denied := make(chan error, 64)
	dial := func(role string) (*nats.Conn, jetstream.JetStream) {
		nc, err := bus.Connect(bus.ConnConfig{URL: ns.ClientURL(), User: role, Password: "pw-" + role, Timeout: 10 * time.Second},
			"jobs-test-"+role, bus.ConnDeps{}, nats.CustomInboxPrefix("_INBOX."+role),
			nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
				if errors.Is(err, nats.ErrPermissionViolation) {
					select {
					case denied <- err:
					default:
					}
				}
			}))
		if err != nil {
			t.Fatalf("connect as %s: %v", role, err)
		}
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		return nc, js
	}
	ctx := context.Background()
	_, ctl := dial("controller")
	if _, err := Setup(ctx, ctl, testConfig()); err != nil {
		t.Fatalf("controller sets up the queue: %v", err)
	}
	// The test watches as the operator, who may read everything.
	opNC, op := dial("operator")
	results, err := op.KeyValue(ctx, bus.ResultsBucket)
	if err != nil {
		t.Fatal(err)
	}
	q := &queue{nc: opNC, js: op, a: &Assets{Results: results}}
	engNC, _ := dial("engine")
	startEngine(t, q, "pe1", engineOpts{nc: engNC})

	_, prod := dial("producer")
	good := job("perm-ok", "Once upon a time", 8)
	dead := job("perm-dead", "Once upon a time", 8)
	dead.Request.Model = "absent"
	for _, j := range []*schemas.Job{good, dead} {
		if _, err := Submit(ctx, prod, DefaultQueue, j); err != nil {
			t.Fatalf("producer submits %s: %v", j.ID, err)
		}
	}
	got := waitResults(t, q, 30*time.Second, "perm-ok", "perm-dead")
	if got["perm-ok"].Status != schemas.JobDone || got["perm-dead"].Status != schemas.JobFailed {
		t.Fatalf("results = %+v, %+v", got["perm-ok"], got["perm-dead"])
	}
	eventually(t, 10*time.Second, "the dead letter", func() bool { return streamMsgs(t, q, bus.DeadStream) == 1 })
	if r, err := Result(ctx, prod, "perm-ok"); err != nil || r.Text == "" {
		t.Errorf("producer reads the result: %+v, %v", r, err)
	}
	if list, err := Results(ctx, prod, 0); err != nil || len(list) != 2 {
		t.Errorf("producer lists results: %d, %v", len(list), err)
	}
	if info, err := Status(ctx, op, "perm-ok"); err != nil || info.State != StateDone {
		t.Errorf("operator status: %+v, %v", info, err)
	}
	select {
	case err := <-denied:
		t.Fatalf("permission denied: %v", err)
	default:
	}
}
