package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runStatsCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = runMain(context.Background(), &cmdEnv{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut}, args)
	return code, out.String(), errOut.String()
}

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// The sleep data set; R's t.test gives t = -1.8608, df = 17.776,
// p-value = 0.07939, and scipy 1.10's mannwhitneyu(a, b) gives U1 = 25.5,
// p = 0.06932757543362658 (ties: normal approximation).
const (
	sleepA = "0.7\n-1.6\n-0.2\n-1.2\n-0.1\n\n3.4\n3.7\n0.8\n0.0\n2.0\n"
	sleepB = "  1.9\n0.8\n1.1\n0.1\n-0.1\n4.4\n5.5\n1.6\n4.6\n3.4\n\n"
)

func TestStatsWelchJSON(t *testing.T) {
	dir := t.TempDir()
	a, b := writeFile(t, dir, "a.txt", sleepA), writeFile(t, dir, "b.txt", sleepB)
	code, out, errOut := runStatsCLI(t, "stats", "welch", "--a", a, "--b", b, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got map[string]float64
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%q: %v", out, err)
	}
	if len(got) != 3 || math.Abs(got["t"]+1.8608134674868526) > 1e-12 ||
		math.Abs(got["df"]-17.776473516178495) > 1e-9 || math.Abs(got["p"]-0.0793941401873582) > 1e-11 {
		t.Fatalf("got %v", got)
	}
}

func TestStatsMannWhitneyJSON(t *testing.T) {
	dir := t.TempDir()
	a, b := writeFile(t, dir, "a.txt", sleepA), writeFile(t, dir, "b.txt", sleepB)
	code, out, errOut := runStatsCLI(t, "stats", "mannwhitney", "--a", a, "--b", b, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got map[string]float64
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%q: %v", out, err)
	}
	if len(got) != 2 || got["u"] != 25.5 || math.Abs(got["p"]-0.06932757543362658) > 1e-12 {
		t.Fatalf("got %v", got)
	}
}

func TestStatsHumanOutput(t *testing.T) {
	dir := t.TempDir()
	a, b := writeFile(t, dir, "a.txt", sleepA), writeFile(t, dir, "b.txt", sleepB)
	for _, c := range []struct {
		test, want string
	}{
		{"welch", "welch: t = -1.86081, df = 17.7765, p = 0.0793941 (two-sided; n_a = 10, n_b = 10"},
		{"mannwhitney", "mannwhitney: U = 25.5, p = 0.0693"},
	} {
		code, out, errOut := runStatsCLI(t, "stats", c.test, "--a", a, "--b", b)
		if code != 0 || !strings.HasPrefix(out, c.want) {
			t.Fatalf("%s: exit %d, %q (stderr %q), want prefix %q", c.test, code, out, errOut, c.want)
		}
	}
}

func TestStatsErrors(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.txt", "1\n2\n3\n")
	bad := writeFile(t, dir, "bad.txt", "1\n\n2.5\nabc\n")
	one := writeFile(t, dir, "one.txt", "1\n")
	for _, c := range []struct {
		name     string
		args     []string
		code     int
		inStderr string
	}{
		{"no test", []string{"stats"}, 2, "name a test"},
		{"unknown test", []string{"stats", "anova", "--a", good, "--b", good}, 2, "unknown test"},
		{"missing --b", []string{"stats", "welch", "--a", good}, 2, "both --a and --b"},
		{"extra argument", []string{"stats", "welch", "--a", good, "--b", good, "x"}, 2, "unexpected arguments"},
		{"bad line", []string{"stats", "welch", "--a", good, "--b", bad}, 1, "bad.txt:4"},
		{"missing file", []string{"stats", "mannwhitney", "--a", filepath.Join(dir, "nope"), "--b", good}, 1, "nope"},
		{"too few", []string{"stats", "welch", "--a", one, "--b", good}, 1, "too few samples"},
		{"help", []string{"stats", "--help"}, 0, "usage: krserve stats"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, errOut := runStatsCLI(t, c.args...)
			if code != c.code || !strings.Contains(errOut, c.inStderr) {
				t.Fatalf("exit %d, stderr %q; want %d containing %q", code, errOut, c.code, c.inStderr)
			}
		})
	}
}

func TestParseNumbers(t *testing.T) {
	got, err := parseNumbers("x", strings.NewReader("1e3\n\n  -2.5  \n0x1p-2\n"))
	if err != nil || len(got) != 3 || got[0] != 1000 || got[1] != -2.5 || got[2] != 0.25 {
		t.Fatalf("%v %v", got, err)
	}
	for _, in := range []string{"NaN\n", "1\n+Inf\n", "1,5\n", "1 2\n"} {
		if _, err := parseNumbers("f.txt", strings.NewReader(in)); !errors.Is(err, errBadNumber) || !strings.Contains(err.Error(), "f.txt:") {
			t.Errorf("%q: err = %v", in, err)
		}
	}
}

func FuzzParseNumbers(f *testing.F) {
	f.Add(sleepA)
	f.Add(sleepB)
	f.Add("1\r\n2\r\n\r\n")
	f.Add("1e400\n")
	f.Fuzz(func(t *testing.T, in string) {
		vals, err := parseNumbers("fuzz", strings.NewReader(in))
		if err != nil {
			return
		}
		for _, v := range vals {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("non-finite %v from %q", v, in)
			}
		}
	})
}
