package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/krserve/krserve/bus"
	"github.com/krserve/krserve/bus/client"
	"github.com/krserve/krserve/config"
	"github.com/krserve/krserve/schemas"
	"github.com/nats-io/nats.go"
)

// producerFlags are shared by generate and chat.
type producerFlags struct {
	nats        string
	maxTokens   int
	temperature float64
	topP        float64
	topK        int
	seed        uint64
	timeout     time.Duration
}

func (p *producerFlags) register(fs *flag.FlagSet, e config.Env) {
	url := e.NATS.URL
	if url == "" {
		url = defaultNATS
	}
	fs.StringVar(&p.nats, "nats", url, "NATS URL of a running krserve (krserve up)")
	fs.IntVar(&p.maxTokens, "max-tokens", 128, "most tokens to generate")
	fs.Float64Var(&p.temperature, "temperature", 0, "sampling temperature (0 = greedy)")
	fs.Float64Var(&p.topP, "top-p", 0, "nucleus sampling (0 = off)")
	fs.IntVar(&p.topK, "top-k", 0, "top-k sampling (0 = off)")
	fs.Uint64Var(&p.seed, "seed", 0, "sampling seed (0 = derived from the request id)")
	fs.DurationVar(&p.timeout, "timeout", 2*time.Minute, "give up after this long")
}

func (p *producerFlags) connect(e config.Env) (*nats.Conn, error) {
	cc := e.NATS
	cc.URL = p.nats
	return bus.Connect(cc, "krserve-cli", bus.ConnDeps{})
}

func (p *producerFlags) sampling() schemas.Sampling {
	return schemas.Sampling{Temperature: float32(p.temperature), TopP: float32(p.topP), TopK: int32(p.topK), Seed: p.seed}
}

func init() {
	register(&command{
		name:    "generate",
		summary: "send one prompt through the pipeline and stream the tokens",
		usage:   "--prompt TEXT [flags]",
		run:     runGenerate,
	})
	register(&command{
		name:    "chat",
		summary: "an interactive chat that keeps its conversation id (one line per turn)",
		usage:   "[flags]",
		run:     runChat,
	})
}

func runGenerate(ctx context.Context, env *cmdEnv, fs *flag.FlagSet, args []string) error {
	e, err := config.LoadEnv(nil)
	if err != nil {
		return err
	}
	var p producerFlags
	p.register(fs, e)
	prompt := fs.String("prompt", "", "prompt text")
	conv := fs.String("conversation", "", "conversation id (keeps turns on the engine holding their KV blocks)")
	asJSON := fs.Bool("json", false, "print one JSON object with the text, ids, usage and timings instead of streaming")
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	if *prompt == "" {
		return fmt.Errorf("%w: --prompt is required", errUsage)
	}
	nc, err := p.connect(e)
	if err != nil {
		return err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	c := client.New(nc, client.Options{Subjects: bus.Subjects{Prefix: e.SubjectPrefix}})
	req := &schemas.GenerateRequest{Prompt: *prompt, ConversationID: *conv, MaxTokens: int32(p.maxTokens), Sampling: p.sampling()}
	if *asJSON {
		out, err := c.Complete(ctx, req)
		if err != nil {
			return err
		}
		b, _ := json.Marshal(map[string]any{"id": out.ID, "text": out.Text, "ids": out.IDs, "finish_reason": out.Final.FinishReason,
			"usage": out.Final.Usage, "timings": out.Final.Timings, "worker": out.Final.Worker, "variant": out.Final.Variant})
		fmt.Fprintln(env.stdout, string(b))
		return nil
	}
	final, err := stream(ctx, c, req, env)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stderr, "\n[%s: %d prompt (%d cached) + %d generated tokens, ttft %.1f ms, worker %s]\n", final.FinishReason,
		final.Usage.PromptTokens, final.Usage.CachedTokens, final.Usage.GeneratedTokens, float64(final.Timings.TTFTUs)/1000, final.Worker)
	return nil
}

// stream prints a request's text as it arrives and returns the final message.
func stream(ctx context.Context, c *client.Client, req *schemas.GenerateRequest, env *cmdEnv) (*schemas.StreamMsg, error) {
	s, err := c.Generate(ctx, req)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	for m, err := range s.Messages(ctx) {
		if err != nil {
			return nil, err
		}
		if m.Kind == schemas.KindToken {
			fmt.Fprint(env.stdout, m.Text)
		}
	}
	if s.Final() == nil {
		return nil, fmt.Errorf("stream ended without a final message")
	}
	return s.Final(), nil
}

func runChat(ctx context.Context, env *cmdEnv, fs *flag.FlagSet, args []string) error {
	e, err := config.LoadEnv(nil)
	if err != nil {
		return err
	}
	var p producerFlags
	p.register(fs, e)
	system := fs.String("system", "", "system prompt")
	conv := fs.String("conversation", "", "conversation id (default: a new one)")
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	if *conv == "" {
		*conv = uuid.NewString()
	}
	nc, err := p.connect(e)
	if err != nil {
		return err
	}
	defer nc.Close()
	c := client.New(nc, client.Options{Subjects: bus.Subjects{Prefix: e.SubjectPrefix}})
	var msgs []schemas.ChatMessage
	if *system != "" {
		msgs = append(msgs, schemas.ChatMessage{Role: "system", Content: *system})
	}
	fmt.Fprintf(env.stderr, "conversation %s — type a message, an empty line or EOF ends the chat\n", *conv)
	in := bufio.NewScanner(env.stdin)
	in.Buffer(make([]byte, 64<<10), 1<<20)
	for {
		fmt.Fprint(env.stderr, "> ")
		if !in.Scan() {
			break
		}
		line := strings.TrimSpace(in.Text())
		if line == "" {
			break
		}
		msgs = append(msgs, schemas.ChatMessage{Role: "user", Content: line})
		tctx, cancel := context.WithTimeout(ctx, p.timeout)
		var sb strings.Builder
		final, err := stream(tctx, c, &schemas.GenerateRequest{Messages: msgs, ConversationID: *conv, MaxTokens: int32(p.maxTokens), Sampling: p.sampling()},
			&cmdEnv{stdin: env.stdin, stdout: multiWriter{env.stdout, &sb}, stderr: env.stderr})
		cancel()
		if err != nil {
			return err
		}
		msgs = append(msgs, schemas.ChatMessage{Role: "assistant", Content: sb.String()})
		fmt.Fprintf(env.stderr, "\n[%d prompt tokens, %d cached, %d generated]\n", final.Usage.PromptTokens, final.Usage.CachedTokens, final.Usage.GeneratedTokens)
	}
	return in.Err()
}

type multiWriter struct {
	a, b interface{ Write([]byte) (int, error) }
}

func (m multiWriter) Write(p []byte) (int, error) {
	if _, err := m.b.Write(p); err != nil {
		return 0, err
	}
	return m.a.Write(p)
}
