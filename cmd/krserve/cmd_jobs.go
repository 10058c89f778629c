package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/krserve/krserve/bus"
	"github.com/krserve/krserve/engined/jobs"
	"github.com/krserve/krserve/schemas"
	"github.com/nats-io/nats.go/jetstream"
)

func init() {
	register(&command{
		name:    "jobs",
		summary: "submit durable batch jobs and read their status and results",
		usage: "submit [--queue default] [--id ID] --prompt TEXT [--max-tokens N] | submit --file jobs.jsonl\n" +
			"       krserve jobs status ID [--json]\n       krserve jobs results [ID...] [--limit N] [--json]",
		run: runJobs,
	})
}

func runJobs(ctx context.Context, env *cmdEnv, fs *flag.FlagSet, args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			fs.Usage()
			return flag.ErrHelp
		}
		return fmt.Errorf("%w: name a subcommand: submit|status|results", errUsage)
	}
	verb, args := args[0], args[1:]
	natsURL := fs.String("nats", envNATS(), "NATS server URL")
	timeout := fs.Duration("timeout", 10*time.Second, "how long each JetStream call may take")
	asJSON := fs.Bool("json", false, "print JSON (one object per line)")
	var queue, id, prompt, file string
	var maxTokens, limit int
	switch verb {
	case "submit":
		fs.StringVar(&queue, "queue", jobs.DefaultQueue, "queue to submit to")
		fs.StringVar(&id, "id", "", "job id, the idempotency key (default: a new UUID)")
		fs.StringVar(&prompt, "prompt", "", "prompt text")
		fs.IntVar(&maxTokens, "max-tokens", 0, "most tokens to generate (0: the engine's default)")
		fs.StringVar(&file, "file", "", `JSON-lines file of jobs, one {"id":…,"prompt":…,"max_tokens":…} per line ("-": stdin)`)
	case "status", "results":
		fs.IntVar(&limit, "limit", 0, "with no ids, list at most this many results (0: all)")
	default:
		return fmt.Errorf("%w: unknown jobs subcommand %q", errUsage, verb)
	}
	pos, err := parseJobArgs(fs, args)
	if err != nil {
		return err
	}
	switch {
	case verb == "submit" && len(pos) > 0:
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, strings.Join(pos, " "))
	case verb == "submit" && (prompt == "") == (file == ""):
		return fmt.Errorf("%w: give either --prompt or --file", errUsage)
	case verb == "submit" && file != "" && id != "":
		return fmt.Errorf("%w: --id goes with --prompt; in --file each line has its own id", errUsage)
	case verb == "status" && len(pos) != 1:
		return fmt.Errorf("%w: status takes one job id", errUsage)
	}
	var todo []*schemas.Job
	if verb == "submit" {
		if todo, err = jobsToSubmit(env, file, id, prompt, maxTokens); err != nil {
			return err
		}
	}

	nc, err := bus.Connect(bus.ConnConfig{URL: *natsURL, Timeout: 5 * time.Second}, "krserve-jobs", bus.ConnDeps{})
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	call := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, *timeout) }
	out := json.NewEncoder(env.stdout)
	switch verb {
	case "submit":
		for _, j := range todo {
			cctx, cancel := call()
			s, err := jobs.Submit(cctx, js, queue, j)
			cancel()
			if err != nil {
				return fmt.Errorf("job %s: %w", j.ID, err)
			}
			if *asJSON {
				_ = out.Encode(map[string]any{"id": j.ID, "queue": queue, "seq": s.Seq, "duplicate": s.Duplicate})
			} else if s.Duplicate {
				fmt.Fprintf(env.stdout, "%s duplicate (already queued as #%d, not queued again)\n", j.ID, s.Seq)
			} else {
				fmt.Fprintf(env.stdout, "%s queued on %s as #%d\n", j.ID, queue, s.Seq)
			}
		}
		return nil
	case "status":
		cctx, cancel := call()
		info, err := jobs.Status(cctx, js, pos[0])
		cancel()
		if err != nil && !errors.Is(err, jobs.ErrUnknownJob) {
			return err
		}
		if *asJSON {
			_ = out.Encode(jobStatusJSON(info))
		} else {
			printJobStatus(env.stdout, info)
		}
		return err
	default: // results
		var list []*schemas.JobResult
		cctx, cancel := call()
		defer cancel()
		if len(pos) == 0 {
			if list, err = jobs.Results(cctx, js, limit); err != nil {
				return err
			}
		}
		var missing []string
		for _, id := range pos {
			r, err := jobs.Result(cctx, js, id)
			if errors.Is(err, jobs.ErrNoResult) {
				missing = append(missing, id)
				continue
			}
			if err != nil {
				return err
			}
			list = append(list, r)
		}
		for _, r := range list {
			if *asJSON {
				_ = out.Encode(jobResultView(r))
			} else {
				printJobResult(env.stdout, r)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("%w: %s (see `krserve jobs status ID`)", jobs.ErrNoResult, strings.Join(missing, ", "))
		}
		return nil
	}
}

// parseJobArgs parses flags that may come before, between or after
// positional arguments (`status ID --json`) and returns the positionals.
func parseJobArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args, true); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// jobLine is one line of a --file.
type jobLine struct {
	ID        string                `json:"id"`
	Prompt    string                `json:"prompt"`
	Messages  []schemas.ChatMessage `json:"messages"`
	MaxTokens int32                 `json:"max_tokens"`
	Metadata  map[string]string     `json:"metadata"`
}

func jobsToSubmit(env *cmdEnv, file, id, prompt string, maxTokens int) ([]*schemas.Job, error) {
	if file == "" {
		if id == "" {
			id = uuid.NewString()
		}
		j := &schemas.Job{V: schemas.Version, ID: id, Request: schemas.GenerateRequest{Prompt: prompt, MaxTokens: int32(maxTokens)}}
		if err := j.Validate(); err != nil {
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		return []*schemas.Job{j}, nil
	}
	var r io.Reader = env.stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	var out []*schemas.Job
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), schemas.MaxPromptBytes+64<<10)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		var fj jobLine
		dec := json.NewDecoder(strings.NewReader(text))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&fj); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", file, line, err)
		}
		if fj.ID == "" {
			fj.ID = uuid.NewString()
		}
		j := &schemas.Job{V: schemas.Version, ID: fj.ID, Metadata: fj.Metadata,
			Request: schemas.GenerateRequest{Prompt: fj.Prompt, Messages: fj.Messages, MaxTokens: fj.MaxTokens}}
		if err := j.Validate(); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", file, line, err)
		}
		out = append(out, j)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no jobs", file)
	}
	return out, nil
}

type jobErrorJSON struct {
	Code      int    `json:"code"`
	Name      string `json:"name"`
	Message   string `json:"message"`
	Retryable bool   `json:"retryable"`
}

type jobResultJSON struct {
	ID           string            `json:"id"`
	Status       string            `json:"status"`
	Text         string            `json:"text,omitempty"`
	IDs          []int32           `json:"ids,omitempty"`
	FinishReason string            `json:"finish_reason,omitempty"`
	Usage        *schemas.Usage    `json:"usage,omitempty"`
	Error        *jobErrorJSON     `json:"error,omitempty"`
	Worker       string            `json:"worker,omitempty"`
	Deliveries   int32             `json:"deliveries"`
	CompletedMs  int64             `json:"completed_ms"`
	Metadata     map[string]string `json:"metadata,omitempty"`
}

func jobResultView(r *schemas.JobResult) jobResultJSON {
	out := jobResultJSON{ID: r.JobID, Status: string(r.Status), Text: r.Text, IDs: r.IDs, FinishReason: string(r.FinishReason),
		Usage: r.Usage, Worker: r.Worker, Deliveries: r.Deliveries, CompletedMs: r.CompletedUnixMs, Metadata: r.Metadata}
	if r.Error != nil {
		out.Error = &jobErrorJSON{Code: int(r.Error.Code), Name: r.Error.Code.String(), Message: r.Error.Message, Retryable: r.Error.Retryable}
	}
	return out
}

func jobStatusJSON(info jobs.Info) map[string]any {
	m := map[string]any{"id": info.ID, "state": info.State}
	if info.Queue != "" {
		m["queue"] = info.Queue
	}
	if info.Seq != 0 {
		m["seq"] = info.Seq
	}
	if info.Result != nil {
		m["result"] = jobResultView(info.Result)
	}
	return m
}

func printJobStatus(w io.Writer, info jobs.Info) {
	switch {
	case info.Result != nil:
		fmt.Fprintf(w, "%s: %s (worker %s, %d deliveries)\n", info.ID, info.State, info.Result.Worker, info.Result.Deliveries)
		if info.Result.Error != nil {
			fmt.Fprintf(w, "  error: %v\n", info.Result.Error)
		}
	case info.State == jobs.StateUnknown:
		fmt.Fprintf(w, "%s: unknown (not queued and no result)\n", info.ID)
	default:
		fmt.Fprintf(w, "%s: %s on queue %s (#%d)\n", info.ID, info.State, info.Queue, info.Seq)
	}
}

func printJobResult(w io.Writer, r *schemas.JobResult) {
	if r.Status == schemas.JobFailed {
		fmt.Fprintf(w, "%s: failed after %d deliveries: %v\n", r.JobID, r.Deliveries, r.Error)
		return
	}
	u := schemas.Usage{}
	if r.Usage != nil {
		u = *r.Usage
	}
	fmt.Fprintf(w, "%s: done by %s (%s, %d prompt + %d generated tokens)\n  %s\n", r.JobID, r.Worker, r.FinishReason,
		u.PromptTokens, u.GeneratedTokens, strings.ReplaceAll(r.Text, "\n", "\n  "))
}
