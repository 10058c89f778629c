// Command krserve is the one binary of the krserve serving pipeline. Each role
// and tool is a subcommand; `krserve help` lists them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// command is one subcommand. Each lives in its own cmd_*.go file and adds
// itself to the table with register in an init function.
type command struct {
	name    string
	summary string // one line for `krserve help`
	usage   string // argument synopsis, shown after the name
	// run parses args with fs (already named for the command) and does the
	// work. It returns errUsage for bad arguments.
	run func(ctx context.Context, env *cmdEnv, fs *flag.FlagSet, args []string) error
}

// cmdEnv carries the process streams so commands are testable in-process.
type cmdEnv struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// errUsage marks a bad invocation: main prints the usage and exits 2.
var errUsage = errors.New("krserve: bad usage")

var commands = map[string]*command{}

func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("krserve: command registered twice: " + c.name)
	}
	commands[c.name] = c
}

func main() {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runMain(ctx, &cmdEnv{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}, os.Args[1:])
	cancel()
	os.Exit(code)
}

// runMain dispatches to a subcommand and returns the process exit code.
func runMain(ctx context.Context, env *cmdEnv, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				fs := newFlagSet(c, env)
				fs.Usage()
				return 0
			}
		}
		printHelp(env.stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(env.stderr, "krserve: unknown command %q\n\n", args[0])
		printHelp(env.stderr)
		return 2
	}
	fs := newFlagSet(c, env)
	err := c.run(ctx, env, fs, args[1:])
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(env.stderr, "%v\n", err)
		fs.Usage()
		return 2
	case errors.Is(err, context.Canceled):
		return 130
	default:
		fmt.Fprintf(env.stderr, "krserve %s: %v\n", c.name, err)
		return 1
	}
}

func newFlagSet(c *command, env *cmdEnv) *flag.FlagSet {
	fs := flag.NewFlagSet("krserve "+c.name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.stderr, "usage: krserve %s %s\n\n%s\n\nflags:\n", c.name, c.usage, c.summary)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args and turns a parse failure into errUsage. Positional
// arguments left over are an error unless allowArgs is set.
func parseFlags(fs *flag.FlagSet, args []string, allowArgs bool) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if !allowArgs && fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, strings.Join(fs.Args(), " "))
	}
	return nil
}

func printHelp(w io.Writer) {
	fmt.Fprintln(w, "krserve: an event-driven LLM serving pipeline on NATS")
	fmt.Fprintln(w, "\nusage: krserve <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'krserve help <command>' for the flags of one command.")
}
