package main

import (
	"context"
	"flag"
	"fmt"
	"sort"
	"strings"
)

// benchCommands holds the `krserve bench <name>` subcommands; each bench_*.go
// file adds one with registerBench in an init function.
var benchCommands = map[string]*command{}

func registerBench(c *command) {
	if _, dup := benchCommands[c.name]; dup {
		panic("krserve: bench registered twice: " + c.name)
	}
	benchCommands[c.name] = c
}

func benchNames() string {
	names := make([]string, 0, len(benchCommands))
	for n := range benchCommands {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, "|")
}

func init() {
	register(&command{
		name:    "bench",
		summary: "run a benchmark (tokenizer, engine, kv, concurrency, e2e, …)",
		usage:   "<name> [flags]",
		run: func(ctx context.Context, env *cmdEnv, fs *flag.FlagSet, args []string) error {
			if len(args) == 0 || strings.HasPrefix(args[0], "-") {
				return fmt.Errorf("%w: name a benchmark: %s", errUsage, benchNames())
			}
			c, ok := benchCommands[args[0]]
			if !ok {
				return fmt.Errorf("%w: unknown benchmark %q (have %s)", errUsage, args[0], benchNames())
			}
			sub := flag.NewFlagSet("krserve bench "+c.name, flag.ContinueOnError)
			sub.SetOutput(env.stderr)
			sub.Usage = func() {
				fmt.Fprintf(env.stderr, "usage: krserve bench %s %s\n\n%s\n\nflags:\n", c.name, c.usage, c.summary)
				sub.PrintDefaults()
			}
			return c.run(ctx, env, sub, args[1:])
		},
	})
}
