package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/krserve/krserve/bus"
	"github.com/krserve/krserve/config"
	"github.com/krserve/krserve/controller"
	"github.com/krserve/krserve/controller/control"
	"github.com/krserve/krserve/controller/rollout"
)

const defaultNATS = "nats://127.0.0.1:4222"

func init() {
	register(&command{
		name:    "rollout",
		summary: "start, inspect and steer canary rollouts (talks to a running controller)",
		usage:   "start --canary CONFIG [--variant canary] [--stages 10,25,50,100] [--interval 30s] [--gates] | status|promote|abort|pause|resume [--json]",
		run:     runRollout,
	})
}

var rolloutVerbs = map[string]bool{"start": true, "status": true, "promote": true, "abort": true, "pause": true, "resume": true}

func runRollout(ctx context.Context, env *cmdEnv, fs *flag.FlagSet, args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			fs.Usage()
			return flag.ErrHelp
		}
		return fmt.Errorf("%w: name a subcommand: start|status|promote|abort|pause|resume", errUsage)
	}
	verb := args[0]
	if !rolloutVerbs[verb] {
		return fmt.Errorf("%w: unknown rollout subcommand %q", errUsage, verb)
	}
	natsURL := fs.String("nats", envNATS(), "NATS server URL")
	asJSON := fs.Bool("json", false, "print the controller status as JSON")
	timeout := fs.Duration("timeout", 10*time.Second, "how long to wait for the controller")
	var canary, variant, baseline, stages string
	var interval time.Duration
	var gates, full bool
	switch verb {
	case "start":
		fs.StringVar(&canary, "canary", "", "runtime YAML file of the canary configuration (its kv_cache_pool and parallel_tokenizer switches become the canary's flag overrides)")
		fs.StringVar(&variant, "variant", "canary", "engine variant that serves the canary")
		fs.StringVar(&baseline, "baseline", "", "baseline variant (default: the controller's, \"baseline\")")
		fs.StringVar(&stages, "stages", "10,25,50,100", "canary traffic stages in percent")
		fs.DurationVar(&interval, "interval", 30*time.Second, "analysis interval (each stage lasts at least one)")
		fs.BoolVar(&gates, "gates", false, "wait for `rollout promote` between stages")
	case "promote":
		fs.BoolVar(&full, "full", false, "promote at once instead of advancing one stage")
	}
	if err := parseFlags(fs, args[1:], false); err != nil {
		return err
	}
	var req controller.StartRequest
	if verb == "start" {
		if canary == "" {
			return fmt.Errorf("%w: --canary CONFIG is required", errUsage)
		}
		rt, err := config.LoadRuntime(canary)
		if err != nil {
			return err
		}
		st, err := parseStages(stages)
		if err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		req = controller.StartRequest{Canary: variant, Baseline: baseline, Stages: st, Interval: rollout.Duration(interval), Gates: gates,
			Flags: control.FlagsFromRuntime(rt)}
	}
	nc, err := bus.Connect(bus.ConnConfig{URL: *natsURL, Timeout: 5 * time.Second}, "krserve-rollout", bus.ConnDeps{})
	if err != nil {
		return err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	cl := controller.NewClient(nc, bus.Subjects{})
	var s controller.Status
	switch verb {
	case "start":
		s, err = cl.Start(ctx, req)
	case "status":
		s, err = cl.Status(ctx)
	case "promote":
		s, err = cl.Promote(ctx, full)
	case "abort":
		s, err = cl.Abort(ctx)
	case "pause":
		s, err = cl.Pause(ctx)
	case "resume":
		s, err = cl.Resume(ctx)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		b, err := json.MarshalIndent(s, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(env.stdout, "%s\n", b)
		return err
	}
	printStatus(env.stdout, s)
	return nil
}

func parseStages(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(f), "%")), 64)
		if err != nil {
			return nil, fmt.Errorf("--stages %q: %q is not a number", s, f)
		}
		out = append(out, v)
	}
	return out, nil
}

func printStatus(w io.Writer, s controller.Status) {
	st := s.Rollout
	if st.ID == "" {
		fmt.Fprintf(w, "no rollout (controller lease: %s)\n", leaseText(s.Lease))
		return
	}
	fmt.Fprintf(w, "rollout %s: %s\n", st.ID, st.Phase)
	fmt.Fprintf(w, "  canary %s vs baseline %s, stage %d of %d (%v), canary weight %v %%\n",
		st.Spec.Canary, st.Spec.Baseline, st.Stage+1, len(st.Spec.Stages), st.Spec.Stages, st.Weight)
	if st.AwaitingGate {
		fmt.Fprintf(w, "  waiting at a gate: run `krserve rollout promote`\n")
	}
	fmt.Fprintf(w, "  intervals %d (%d in this stage), failing streak %d, inconclusive %d in a row (%d total)\n",
		st.Intervals, st.StageIntervals, st.Failures, st.Inconclusive, st.InconclusiveTotal)
	if st.Reason != "" {
		fmt.Fprintf(w, "  reason: %s\n", st.Reason)
	}
	if v := st.LastVerdict; v != nil {
		fmt.Fprintf(w, "  last verdict (%s, %s): %s\n", v.Judge, v.At.Format(time.RFC3339), v.Decision)
		for _, r := range v.Results {
			fmt.Fprintf(w, "    %-10s %-12s n=%d/%d  %s\n", r.Metric, r.Decision, r.NBaseline, r.NCanary, r.Reason)
		}
	}
	fmt.Fprintf(w, "  controller lease: %s\n", leaseText(s.Lease))
}

func leaseText(l rollout.Lease) string {
	if l.Holder == "" {
		return "nobody"
	}
	return fmt.Sprintf("%s until %s", l.Holder, l.Expires.Format(time.RFC3339))
}

// envNATS is the default --nats: KRSERVE_NATS_URL if set.
func envNATS() string {
	if e, err := config.LoadEnv(nil); err == nil && e.NATS.URL != "" {
		return e.NATS.URL
	}
	return defaultNATS
}
