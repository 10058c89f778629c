package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/krserve/krserve/bus"
	"github.com/krserve/krserve/bus/client"
	"github.com/krserve/krserve/config"
	"github.com/krserve/krserve/controller/abtest"
	"github.com/krserve/krserve/internal/stack"
	"github.com/krserve/krserve/tokenizerd/route"
	"github.com/krserve/krserve/tokenizerd/tokenizer"
	"github.com/nats-io/nats.go"
)

func init() {
	register(&command{
		name: "abtest",
		summary: "A/B test two runtime configurations on the same multi-turn chat workload: mean ± 95 % CI, improvement, " +
			"p-value and a DEPLOY / REJECT / INCONCLUSIVE recommendation",
		usage: "--baseline FILE --candidate FILE [--samples 1000] [--concurrency 1] [--turns 5] [--tokens 16] [--model PATH] [--json] [--plot out.png]",
		run:   runABTest,
	})
}

// The two pipelines of an A/B test: variant name and subject prefix.
const (
	abBaseline  = "baseline"
	abCandidate = "candidate"
)

func abPrefix(variant string) bus.Subjects { return bus.Subjects{Prefix: "krserve.abtest." + variant} }

// abtestDoc is the --json output of `krserve abtest`. Keep it stable.
type abtestDoc struct {
	Model          string                          `json:"model"`
	Samples        int                             `json:"samples"`
	Turns          int                             `json:"turns"`
	MaxTokens      int                             `json:"max_tokens"`
	Concurrency    int                             `json:"concurrency"`
	Alpha          float64                         `json:"alpha"`
	Baseline       abtestSide                      `json:"baseline"`
	Candidate      abtestSide                      `json:"candidate"`
	Metrics        map[abtest.Metric]abtest.Result `json:"metrics"`
	PerTurn        []abtest.TurnStat               `json:"per_turn"`
	Recommendation abtest.Recommendation           `json:"recommendation"`
	Reason         string                          `json:"reason"`
}

type abtestSide struct {
	Config       string  `json:"config"`
	Requests     int     `json:"requests"`
	Errors       int     `json:"errors"`
	CachedTokens float64 `json:"cached_tokens_mean"`
	PromptTokens float64 `json:"prompt_tokens_mean"`
}

func runABTest(ctx context.Context, env *cmdEnv, fs *flag.FlagSet, args []string) error {
	e, err := config.LoadEnv(nil)
	if err != nil {
		return err
	}
	var rf roleFlags
	fs.StringVar(&rf.model, "model", e.Model, "GGUF or llama2.c model file (default: the synthesized default model, see --vocab; its text is meaningless)")
	fs.StringVar(&rf.tokenizer, "tokenizer", e.Tokenizer, "vocabulary of a llama2.c checkpoint (tokenizer.bin)")
	fs.StringVar(&rf.vocab, "vocab", os.Getenv("KRSERVE_VOCAB"), "GGUF vocabulary the default model is synthesized with")
	fs.StringVar(&rf.dataDir, "data-dir", e.DataDir, "directory of the model cache (default: the user cache dir)")
	fs.StringVar(&rf.backend, "backend", "native", "engine backend: native or reference")
	fs.IntVar(&rf.threads, "threads", 0, "compute threads per engine (0 = the CPUs divided between the two engines)")
	var baseFile, candFile string
	fs.StringVar(&baseFile, "baseline", "", "runtime YAML of the baseline (e.g. config/baseline.yaml); required")
	fs.StringVar(&candFile, "candidate", "", "runtime YAML of the candidate (e.g. config/optimized.yaml); required")
	fs.StringVar(&candFile, "optimized", "", "the same as --candidate")
	w := abtest.DefaultWorkload()
	fs.IntVar(&w.Samples, "samples", w.Samples, "measured requests per variant")
	fs.IntVar(&w.Concurrency, "concurrency", w.Concurrency, "conversations in flight at once")
	fs.IntVar(&w.Turns, "turns", w.Turns, "turns per chat; each prompt holds the chat so far")
	fs.IntVar(&w.MaxTokens, "tokens", w.MaxTokens, "tokens generated per reply")
	fs.IntVar(&w.Warmup, "warmup", w.Warmup, "unmeasured requests per variant before the test")
	crit := abtest.DefaultCriteria()
	fs.Float64Var(&crit.Alpha, "alpha", crit.Alpha, "significance level of each two-sided test")
	fs.IntVar(&crit.MinSamples, "min-samples", crit.MinSamples, "fewest values per variant a metric needs to be judged")
	asJSON := fs.Bool("json", false, "print the result as one JSON object")
	plotPath := fs.String("plot", "", "write a PNG chart of the result to this file")
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	if baseFile == "" || candFile == "" {
		return fmt.Errorf("%w: --baseline and --candidate are required", errUsage)
	}
	if err := w.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if err := crit.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	baseRT, err := config.LoadRuntime(baseFile)
	if err != nil {
		return err
	}
	candRT, err := config.LoadRuntime(candFile)
	if err != nil {
		return err
	}
	log := newLogger(env, e)
	model, err := rf.resolveModel(log)
	if err != nil {
		return err
	}

	dir, err := os.MkdirTemp("", "krserve-abtest-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	srv, err := bus.NewServer(bus.ServerConfig{StoreDir: dir})
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	defer srv.Shutdown()
	connect := func(name string) (*nats.Conn, error) { return srv.Connect(name, bus.ConnDeps{}) }
	threads := rf.threadsPer(2)
	var senders [2]*client.Client
	var stacks []*stack.Stack
	defer func() {
		for _, st := range stacks {
			_ = st.Stop()
		}
	}()
	var tok *tokenizer.Tokenizer
	ctxLen := 0
	for i, side := range []struct {
		variant string
		rt      config.Runtime
	}{{abBaseline, baseRT}, {abCandidate, candRT}} {
		st, err := stack.Start(stack.Config{Model: model, Tokenizer: rf.tokenizer, Backend: rf.backend, Threads: threads,
			Engines:    []stack.EngineSpec{{ID: side.variant + "-1", Variant: side.variant}},
			Tokenizers: 1, TokenizerIDs: []string{"tok-" + side.variant}, Runtime: side.rt, Subjects: abPrefix(side.variant),
			Heartbeat: 200 * time.Millisecond, Metrics: time.Second, Drain: 10 * time.Second, Version: serviceVersion(), Connect: connect,
		}, nil, log)
		if err != nil {
			return fmt.Errorf("%s pipeline: %w", side.variant, err)
		}
		stacks = append(stacks, st)
		if side.variant != abBaseline {
			// The tokenizer's default variant is the baseline: send all of
			// this pipeline's traffic to its candidate engine.
			st.Tokenizers[0].SetWeights(route.Weights{side.variant: 100})
		}
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = st.WaitReady(rctx, map[string]int{side.variant: 1})
		cancel()
		if err != nil {
			return fmt.Errorf("%s pipeline: %w", side.variant, err)
		}
		nc, err := connect("abtest-" + side.variant)
		if err != nil {
			return err
		}
		defer nc.Close()
		senders[i] = client.New(nc, client.Options{Subjects: abPrefix(side.variant), IdleTimeout: time.Minute})
		tok, ctxLen = st.Tokenizer, st.ContextLen
	}
	if need := chatTokens(tok, w); need >= ctxLen {
		return fmt.Errorf("%w: a chat of %d turns with %d-token replies needs about %d tokens, more than the model's context of %d: lower --turns or --tokens",
			errUsage, w.Turns, w.MaxTokens, need, ctxLen)
	}
	w.BaselineVariant, w.CandidateVariant = abBaseline, abCandidate
	bar := newProgress(env.stderr, "abtest", 2*w.Samples)
	obs, err := abtest.Run(ctx, w, abtest.Deps{Baseline: senders[0], Candidate: senders[1],
		Progress: func(done, total int) { bar.step(fmt.Sprintf("%d of %d requests", done, total)) }})
	bar.finish()
	if err != nil {
		return err
	}
	var stopErr error
	for _, st := range stacks {
		stopErr = errors.Join(stopErr, st.Stop())
	}
	stacks = nil
	if stopErr != nil {
		return stopErr
	}
	bv, cv := abtest.ValuesOf(obs.Baseline), abtest.ValuesOf(obs.Candidate)
	rep, err := abtest.Analyze(bv, cv, crit)
	if err != nil {
		return err
	}
	doc := abtestDoc{Model: modelID(model), Samples: w.Samples, Turns: w.Turns, MaxTokens: w.MaxTokens, Concurrency: w.Concurrency, Alpha: crit.Alpha,
		Baseline: sideOf(baseFile, obs.Baseline, bv), Candidate: sideOf(candFile, obs.Candidate, cv),
		Metrics: rep.MetricsJSON(), PerTurn: obs.ByTurn(), Recommendation: rep.Recommendation, Reason: rep.Reason}
	if *plotPath != "" {
		if err := abtestFigure(rep, obs, bv, cv).Save(*plotPath); err != nil {
			return err
		}
	}
	if *asJSON {
		return json.NewEncoder(env.stdout).Encode(doc)
	}
	printABTest(env.stdout, &doc, rep)
	return nil
}

// chatTokens estimates the prompt tokens of the longest chat's last turn:
// the user messages, the replies and a chat-template allowance per message.
func chatTokens(tok *tokenizer.Tokenizer, w abtest.Workload) int {
	msgs := w.Messages
	if len(msgs) == 0 {
		msgs = abtest.DefaultMessages
	}
	longest := 0
	for start := range msgs {
		n := 0
		for t := range w.Turns {
			n += len(tok.Encode(msgs[(start+t)%len(msgs)], tokenizer.EncodeOptions{}))
		}
		longest = max(longest, n)
	}
	const perMessage = 8 // role markers, separators, the conversation tag
	return longest + w.Turns*(w.MaxTokens+2*perMessage) + w.MaxTokens
}

func sideOf(file string, outs []abtest.Outcome, v abtest.Values) abtestSide {
	s := abtestSide{Config: file, Requests: v.Requests, Errors: v.Errors}
	n := 0
	for _, o := range outs {
		if o.Err == nil {
			s.CachedTokens += float64(o.CachedTokens)
			s.PromptTokens += float64(o.PromptTokens)
			n++
		}
	}
	if n > 0 {
		s.CachedTokens /= float64(n)
		s.PromptTokens /= float64(n)
	}
	return s
}

func printABTest(w io.Writer, d *abtestDoc, rep *abtest.Report) {
	fmt.Fprintf(w, "A/B test on %s: %d requests per variant in %d-turn chats, %d tokens per reply, %d chat(s) at a time\n",
		d.Model, d.Samples, d.Turns, d.MaxTokens, d.Concurrency)
	fmt.Fprintf(w, "  baseline:  %s (%d errors, %.0f of %.0f prompt tokens cached on average)\n", d.Baseline.Config, d.Baseline.Errors, d.Baseline.CachedTokens, d.Baseline.PromptTokens)
	fmt.Fprintf(w, "  candidate: %s (%d errors, %.0f of %.0f prompt tokens cached on average)\n\n", d.Candidate.Config, d.Candidate.Errors, d.Candidate.CachedTokens, d.Candidate.PromptTokens)
	fmt.Fprintf(w, "%-13s %-24s %-24s %12s %10s  %-11s %-4s %s\n", "metric", "baseline mean ± 95% CI", "candidate mean ± 95% CI", "improvement", "p", "test", "sig", "verdict")
	for _, r := range rep.Results {
		imp := "-"
		if !isNaN(r.Improvement) {
			unit := "%"
			if r.Metric == abtest.ErrorRate {
				unit = "pt"
			}
			imp = fmt.Sprintf("%+.1f %s", 100*r.Improvement, unit)
		}
		p := "-"
		if !isNaN(r.P) {
			p = fmt.Sprintf("%.3g", r.P)
		}
		sig := "no"
		if r.Significant {
			sig = "yes"
		}
		fmt.Fprintf(w, "%-13s %-24s %-24s %12s %10s  %-11s %-4s %s\n", r.Metric, meanCI(r.Metric, r.Baseline), meanCI(r.Metric, r.Candidate), imp, p, r.Test, sig, r.Verdict)
	}
	fmt.Fprintf(w, "\nturn  prompt  cached baseline  cached candidate  ttft ms baseline  ttft ms candidate\n")
	for _, t := range d.PerTurn {
		fmt.Fprintf(w, "%4d  %6.0f  %15.0f  %16.0f  %16.2f  %17.2f\n", t.Turn, t.Baseline.PromptTokens, t.Baseline.CachedTokens, t.Candidate.CachedTokens, t.Baseline.TTFTMs, t.Candidate.TTFTMs)
	}
	fmt.Fprintf(w, "\nrecommendation: %s (%s)\n", rep.Recommendation, rep.Reason)
}

func isNaN(x float64) bool { return x != x }

// meanCI formats a summary as "mean ± half-width" (the error rate in
// percent with its Wilson bounds, which are not symmetric).
func meanCI(m abtest.Metric, s abtest.Summary) string {
	switch {
	case s.N == 0 || isNaN(s.Mean):
		return "-"
	case m == abtest.ErrorRate:
		return fmt.Sprintf("%.2f%% [%.2f, %.2f]", 100*s.Mean, 100*s.Lo, 100*s.Hi)
	case isNaN(s.Lo):
		return fmt.Sprintf("%.4g (n=%d)", s.Mean, s.N)
	}
	return strings.TrimSpace(fmt.Sprintf("%.4g ± %.2g", s.Mean, (s.Hi-s.Lo)/2))
}
