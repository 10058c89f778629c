package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/krserve/krserve/controller/stats"
)

// errBadNumber marks a line of a numbers file that is not a finite number.
var errBadNumber = errors.New("krserve: bad number")

func init() {
	register(&command{
		name:    "stats",
		summary: "compare two samples: Welch's t-test or the Mann–Whitney U test (two-sided)",
		usage:   "welch|mannwhitney --a A.txt --b B.txt [--json]",
		run:     runStats,
	})
}

func runStats(_ context.Context, env *cmdEnv, fs *flag.FlagSet, args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			fs.Usage()
			return flag.ErrHelp
		}
		return fmt.Errorf("%w: name a test: welch|mannwhitney", errUsage)
	}
	test := args[0]
	if test != "welch" && test != "mannwhitney" {
		return fmt.Errorf("%w: unknown test %q (have welch|mannwhitney)", errUsage, test)
	}
	fileA := fs.String("a", "", "file of sample A: one number per line, blank lines ignored")
	fileB := fs.String("b", "", "file of sample B")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := parseFlags(fs, args[1:], false); err != nil {
		return err
	}
	if *fileA == "" || *fileB == "" {
		return fmt.Errorf("%w: both --a and --b are required", errUsage)
	}
	a, err := readNumbersFile(*fileA)
	if err != nil {
		return err
	}
	b, err := readNumbersFile(*fileB)
	if err != nil {
		return err
	}
	switch test {
	case "welch":
		r, err := stats.Welch(a, b)
		if err != nil {
			return fmt.Errorf("welch: %w", err)
		}
		if *asJSON {
			return writeJSON(env.stdout, map[string]float64{"t": r.T, "df": r.DF, "p": r.P})
		}
		fmt.Fprintf(env.stdout, "welch: t = %.6g, df = %.6g, p = %.6g (two-sided; n_a = %d, n_b = %d, mean_a − mean_b = %.6g)\n",
			r.T, r.DF, r.P, r.NA, r.NB, r.Diff)
	default:
		r, err := stats.MannWhitney(a, b)
		if err != nil {
			return fmt.Errorf("mannwhitney: %w", err)
		}
		if *asJSON {
			return writeJSON(env.stdout, map[string]float64{"u": r.U, "p": r.P})
		}
		fmt.Fprintf(env.stdout, "mannwhitney: U = %g, p = %.6g (two-sided, %s; n_a = %d, n_b = %d)\n",
			r.U, r.P, r.Method, r.NA, r.NB)
	}
	return nil
}

func writeJSON(w io.Writer, v map[string]float64) error {
	b, err := json.Marshal(v) // map keys come out sorted
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

func readNumbersFile(path string) ([]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseNumbers(path, f)
}

// parseNumbers reads one number per line; blank lines (and surrounding
// spaces) are ignored. A line that is not a finite number is an error naming
// name and the 1-based line.
func parseNumbers(name string, r io.Reader) ([]float64, error) {
	var out []float64
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" {
			continue
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%w: %s:%d: %q is not a finite number", errBadNumber, name, line, truncate(s, 40))
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", name, line+1, err)
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
