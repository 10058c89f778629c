package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/krserve/krserve/bus"
	"github.com/krserve/krserve/config"
	"github.com/krserve/krserve/controller"
	"github.com/krserve/krserve/controller/control"
	"github.com/krserve/krserve/schemas"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
)

func init() {
	register(&command{
		name:    "status",
		summary: "one screen of a running deployment: workers, variants and canary weights, KV usage, the rollout",
		usage:   "[--nats URL] [--json] [--wait 1.5s]",
		run:     runStatus,
	})
}

// statusReport is what `krserve status` shows (and prints with --json).
type statusReport struct {
	NATS      string          `json:"nats"`
	Collected time.Duration   `json:"collected_ns"`
	Workers   []workerStatus  `json:"workers"`
	Services  []serviceStatus `json:"services"` // micro services without heartbeats (controller, processes)
	Variants  []variantStatus `json:"variants"`
	// Weights is the stored canary split; WeightsNote says why it is absent.
	Weights     *control.Weights `json:"weights,omitempty"`
	WeightsNote string           `json:"weights_note,omitempty"`
	// Rollout is the controller's answer; RolloutNote says why it is absent.
	Rollout     *controller.Status `json:"rollout,omitempty"`
	RolloutNote string             `json:"rollout_note,omitempty"`
}

// workerStatus merges a worker's last heartbeat with its micro service stats.
type workerStatus struct {
	Role        string `json:"role"`
	Worker      string `json:"worker"`
	Variant     string `json:"variant,omitempty"`
	Model       string `json:"model,omitempty"`
	State       string `json:"state"`
	Running     int32  `json:"running"`
	Waiting     int32  `json:"waiting"`
	QueueCap    int32  `json:"queue_cap"`
	FreeBlocks  int32  `json:"free_blocks"`
	TotalBlocks int32  `json:"total_blocks"`
	AgeMs       int64  `json:"heartbeat_age_ms"`
	Version     string `json:"version,omitempty"`
	Requests    int    `json:"requests"` // over the micro service's endpoints, since start
	Errors      int    `json:"errors"`
}

type serviceStatus struct {
	Name     string            `json:"name"`
	ID       string            `json:"id"`
	Version  string            `json:"version"`
	Metadata map[string]string `json:"metadata,omitempty"`
	Requests int               `json:"requests"`
	Errors   int               `json:"errors"`
}

type variantStatus struct {
	Name        string  `json:"name"`
	Engines     int     `json:"engines"`
	Ready       int     `json:"ready"`
	WeightPct   float64 `json:"weight_percent"`
	Running     int     `json:"running"`
	Waiting     int     `json:"waiting"`
	FreeBlocks  int64   `json:"free_blocks"`
	TotalBlocks int64   `json:"total_blocks"`
}

func runStatus(ctx context.Context, env *cmdEnv, fs *flag.FlagSet, args []string) error {
	e, err := config.LoadEnv(nil)
	if err != nil {
		return err
	}
	natsURL := fs.String("nats", envNATS(), "NATS server URL")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	wait := fs.Duration("wait", 1500*time.Millisecond, "how long to collect heartbeats and service replies")
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	if *wait <= 0 {
		return fmt.Errorf("%w: --wait must be positive", errUsage)
	}
	conn := e.NATS
	conn.URL = *natsURL
	if conn.Timeout == 0 {
		conn.Timeout = 5 * time.Second
	}
	nc, err := bus.Connect(conn, "krserve-status", bus.ConnDeps{})
	if err != nil {
		return err
	}
	defer nc.Close()
	r, err := collectStatus(ctx, nc, bus.Subjects{Prefix: e.SubjectPrefix}, *wait)
	if err != nil {
		return err
	}
	r.NATS = *natsURL
	if *asJSON {
		b, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(env.stdout, "%s\n", b)
		return err
	}
	printStatusReport(env.stdout, r)
	return nil
}

// collectStatus gathers everything at once for wait: heartbeats, $SRV.INFO
// and $SRV.STATS replies, the stored weights and the controller's status.
func collectStatus(ctx context.Context, nc *nats.Conn, s bus.Subjects, wait time.Duration) (*statusReport, error) {
	start := time.Now()
	r := &statusReport{}
	var mu sync.Mutex
	beats := map[string]schemas.Heartbeat{}
	hb, err := nc.Subscribe(s.Heartbeat("*", "*"), func(m *nats.Msg) {
		var h schemas.Heartbeat
		if schemas.Decode(m.Data, &h) == nil {
			mu.Lock()
			beats[h.Role+"/"+h.Worker] = h
			mu.Unlock()
		}
	})
	if err != nil {
		return nil, fmt.Errorf("status: subscribe to heartbeats: %w", err)
	}
	defer func() { _ = hb.Unsubscribe() }()
	var infos []micro.Info
	var stats []micro.Stats
	collect := func(subject string, into func([]byte)) (*nats.Subscription, error) {
		inbox := nc.NewInbox()
		sub, err := nc.Subscribe(inbox, func(m *nats.Msg) {
			mu.Lock()
			defer mu.Unlock()
			into(m.Data)
		})
		if err != nil {
			return nil, err
		}
		if err := nc.PublishRequest(subject, inbox, nil); err != nil {
			_ = sub.Unsubscribe()
			return nil, err
		}
		return sub, nil
	}
	infoSub, err := collect("$SRV.INFO", func(b []byte) {
		var i micro.Info
		if json.Unmarshal(b, &i) == nil && i.Name != "" {
			infos = append(infos, i)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("status: $SRV.INFO: %w", err)
	}
	defer func() { _ = infoSub.Unsubscribe() }()
	statsSub, err := collect("$SRV.STATS", func(b []byte) {
		var st micro.Stats
		if json.Unmarshal(b, &st) == nil && st.Name != "" {
			stats = append(stats, st)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("status: $SRV.STATS: %w", err)
	}
	defer func() { _ = statsSub.Unsubscribe() }()

	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		w, note := readWeights(wctx, nc)
		mu.Lock()
		r.Weights, r.WeightsNote = w, note
		mu.Unlock()
	}()
	go func() {
		defer wg.Done()
		st, err := controller.NewClient(nc, s).Status(wctx)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			r.RolloutNote = "no controller answered: " + err.Error()
			if errors.Is(err, schemas.ErrNoWorker) {
				r.RolloutNote = "no controller is running (start `krserve controller`)"
			}
			return
		}
		r.Rollout = &st
	}()
	wg.Wait()
	<-wctx.Done()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	mu.Lock()
	defer mu.Unlock()
	r.Collected = time.Since(start)
	buildReport(r, beats, infos, stats, time.Now())
	return r, nil
}

func readWeights(ctx context.Context, nc *nats.Conn) (*control.Weights, string) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, "no JetStream: " + err.Error()
	}
	kv, err := js.KeyValue(ctx, bus.ControlBucket)
	if err != nil {
		return nil, fmt.Sprintf("control bucket %s not found (no controller or stack has created it): %v", bus.ControlBucket, err)
	}
	w, err := control.GetWeights(ctx, kv)
	if err != nil {
		return nil, "reading weights: " + err.Error()
	}
	if w.Baseline == "" && len(w.Canary) == 0 {
		return nil, "no weights stored: all traffic goes to the baseline variant"
	}
	return &w, ""
}

// buildReport merges heartbeats with service stats and sums variants.
func buildReport(r *statusReport, beats map[string]schemas.Heartbeat, infos []micro.Info, stats []micro.Stats, now time.Time) {
	type counts struct {
		requests, errors int
		version          string
	}
	byWorker := map[string]counts{} // service name + worker id → counts
	seen := map[string]bool{}
	for _, st := range stats {
		c := counts{version: st.Version}
		for _, ep := range st.Endpoints {
			c.requests += ep.NumRequests
			c.errors += ep.NumErrors
		}
		byWorker[st.Name+"/"+st.Metadata["worker"]] = c
		seen[st.ID] = true
	}
	roleService := map[string]string{"engine": "krserve-engine", "tokenizer": "krserve-tokenizer", "controller": controller.ServiceName}
	covered := map[string]bool{}
	for _, h := range beats {
		c := byWorker[roleService[h.Role]+"/"+h.Worker]
		covered[roleService[h.Role]+"/"+h.Worker] = true
		r.Workers = append(r.Workers, workerStatus{Role: h.Role, Worker: h.Worker, Variant: h.Variant, Model: h.Model, State: string(h.State),
			Running: h.Running, Waiting: h.Waiting, QueueCap: h.QueueCap, FreeBlocks: h.FreeBlocks, TotalBlocks: h.TotalBlocks,
			AgeMs: max(0, now.UnixMilli()-h.SentUnixMs), Version: c.version, Requests: c.requests, Errors: c.errors})
	}
	sort.Slice(r.Workers, func(i, j int) bool {
		a, b := r.Workers[i], r.Workers[j]
		if a.Role != b.Role {
			return a.Role < b.Role
		}
		return a.Worker < b.Worker
	})
	// Services that send no heartbeat: the controller, krserve processes.
	ids := map[string]bool{}
	for _, st := range stats {
		if covered[st.Name+"/"+st.Metadata["worker"]] || ids[st.ID] {
			continue
		}
		ids[st.ID] = true
		c := byWorker[st.Name+"/"+st.Metadata["worker"]]
		r.Services = append(r.Services, serviceStatus{Name: st.Name, ID: st.ID, Version: st.Version, Metadata: st.Metadata, Requests: c.requests, Errors: c.errors})
	}
	for _, in := range infos {
		if seen[in.ID] || ids[in.ID] || covered[in.Name+"/"+in.Metadata["worker"]] {
			continue
		}
		ids[in.ID] = true
		r.Services = append(r.Services, serviceStatus{Name: in.Name, ID: in.ID, Version: in.Version, Metadata: in.Metadata})
	}
	sort.Slice(r.Services, func(i, j int) bool {
		if r.Services[i].Name != r.Services[j].Name {
			return r.Services[i].Name < r.Services[j].Name
		}
		return r.Services[i].ID < r.Services[j].ID
	})
	vs := map[string]*variantStatus{}
	get := func(name string) *variantStatus {
		if vs[name] == nil {
			vs[name] = &variantStatus{Name: name}
		}
		return vs[name]
	}
	for _, w := range r.Workers {
		if w.Role != "engine" {
			continue
		}
		v := get(w.Variant)
		v.Engines++
		if w.State == string(schemas.StateReady) {
			v.Ready++
		}
		v.Running += int(w.Running)
		v.Waiting += int(w.Waiting)
		v.FreeBlocks += int64(w.FreeBlocks)
		v.TotalBlocks += int64(w.TotalBlocks)
	}
	if w := r.Weights; w != nil {
		rest := 100.0
		for name, p := range w.Canary {
			get(name).WeightPct = p
			rest -= p
		}
		get(w.Baseline).WeightPct = rest
	} else if v, ok := vs["baseline"]; ok {
		v.WeightPct = 100
	}
	for _, v := range vs {
		r.Variants = append(r.Variants, *v)
	}
	sort.Slice(r.Variants, func(i, j int) bool { return r.Variants[i].Name < r.Variants[j].Name })
}

func printStatusReport(w io.Writer, r *statusReport) {
	fmt.Fprintf(w, "krserve status of %s (collected for %v)\n\n", r.NATS, r.Collected.Round(time.Millisecond))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "WORKERS")
	if len(r.Workers) == 0 {
		fmt.Fprintln(w, "  no heartbeats: no tokenizer or engine worker is running")
	} else {
		fmt.Fprintln(tw, "  ROLE\tWORKER\tVARIANT\tSTATE\tRUNNING\tWAITING\tKV FREE/TOTAL\tREQUESTS\tERRORS\tLAST BEAT")
		for _, x := range r.Workers {
			kv := "-"
			if x.TotalBlocks > 0 {
				kv = fmt.Sprintf("%d/%d (%.0f%% used)", x.FreeBlocks, x.TotalBlocks, 100*(1-float64(x.FreeBlocks)/float64(x.TotalBlocks)))
			}
			queue := fmt.Sprint(x.Waiting)
			if x.QueueCap > 0 {
				queue = fmt.Sprintf("%d/%d", x.Waiting, x.QueueCap)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%d\t%s\t%s\t%d\t%d\t%v ago\n", x.Role, x.Worker, dash(x.Variant), x.State, x.Running, queue, kv,
				x.Requests, x.Errors, (time.Duration(x.AgeMs) * time.Millisecond).Round(time.Millisecond))
		}
		_ = tw.Flush()
	}
	if len(r.Services) > 0 {
		fmt.Fprintln(w, "\nSERVICES")
		for _, s := range r.Services {
			var meta []string
			for k, v := range s.Metadata {
				meta = append(meta, k+"="+v)
			}
			sort.Strings(meta)
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%d requests, %d errors\t%s\n", s.Name, s.ID, s.Version, s.Requests, s.Errors, strings.Join(meta, " "))
		}
		_ = tw.Flush()
	}
	fmt.Fprintln(w, "\nVARIANTS")
	if len(r.Variants) == 0 {
		fmt.Fprintln(w, "  none")
	} else {
		fmt.Fprintln(tw, "  VARIANT\tWEIGHT\tENGINES (READY)\tRUNNING\tWAITING\tKV FREE/TOTAL")
		for _, v := range r.Variants {
			fmt.Fprintf(tw, "  %s\t%.1f%%\t%d (%d)\t%d\t%d\t%d/%d\n", v.Name, v.WeightPct, v.Engines, v.Ready, v.Running, v.Waiting, v.FreeBlocks, v.TotalBlocks)
		}
		_ = tw.Flush()
	}
	if r.WeightsNote != "" {
		fmt.Fprintf(w, "  weights: %s\n", r.WeightsNote)
	} else if r.Weights != nil {
		fmt.Fprintf(w, "  weights: baseline %s, canaries %v (revision %d)\n", r.Weights.Baseline, r.Weights.Canary, r.Weights.Revision)
	}
	fmt.Fprintln(w, "\nROLLOUT")
	if r.Rollout == nil {
		fmt.Fprintf(w, "  %s\n", r.RolloutNote)
		return
	}
	var b strings.Builder
	printStatus(&b, *r.Rollout)
	for _, line := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
		fmt.Fprintf(w, "  %s\n", line)
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
